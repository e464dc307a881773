// Generated from docs/api/openapi.yaml: do not edit by hand. Regenerate with
//   { sed -n 1,8p Sources/LeukAPI/OpenAPIDocument.swift; cat docs/api/openapi.yaml; printf '"""#\n}\n'; } > /tmp/o.swift && mv /tmp/o.swift Sources/LeukAPI/OpenAPIDocument.swift
// (the LeukAPITests check that this string and the file are identical, and that the document
// describes exactly the routes the server registers).

/// The OpenAPI 3 document served at `/v1/openapi.yaml`, compiled in so the binary needs no resource files.
enum OpenAPIDocument {
    static let yaml = #"""
openapi: 3.0.3
info:
  title: leuknode local API
  version: "1"
paths: {}
"""#
}
