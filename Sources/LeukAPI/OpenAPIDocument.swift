/// The OpenAPI 3 document served at `/v1/openapi.yaml`: docs/api/openapi.yaml itself, compiled into the
/// binary by SwiftPM (`Sources/LeukAPI/openapi.yaml` links to it; `.embedInCode` in Package.swift), so
/// the served document is the reviewed file and an installed binary needs no resource files.
enum OpenAPIDocument {
    static let yaml = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)
}
