import Hummingbird
import MultipartKit
import NIOCore
import Foundation

/// A file a browser sent in a multipart form.
struct UploadedFile: Sendable {
    var fileName: String
    var bytes: [UInt8]
}

/// The fields (and files) of a submitted form. Each field once: a repeated one keeps its first value.
struct FormData: Sendable {
    var fields: [String: String] = [:]
    var files: [String: UploadedFile] = [:]

    subscript(_ name: String) -> String? { fields[name] }

    /// The field trimmed, or nil when it is missing or blank.
    func text(_ name: String) -> String? {
        guard let value = fields[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else { return nil }
        return value
    }
}

/// Reads `application/x-www-form-urlencoded` and `multipart/form-data` bodies, the two encodings an HTML
/// form sends, refusing bodies over `limit` before they are read in full.
enum FormReader {
    static func read(_ request: Request, limit: Int) async throws(PortalRefusal) -> FormData {
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit { throw .tooLarge(limit) }
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: limit)
        } catch {
            throw .tooLarge(limit)
        }
        let type = request.headers[.contentType] ?? ""
        let mediaType = type.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() } ?? ""
        switch mediaType {
        case "application/x-www-form-urlencoded":
            return urlEncoded(String(buffer: buffer))
        case "multipart/form-data":
            guard let boundary = parameter("boundary", of: type) else { throw .unreadableForm("the multipart form has no boundary") }
            return try multipart(buffer, boundary: boundary)
        default:
            throw .unreadableForm("expected an HTML form, got '\(mediaType.isEmpty ? "no content type" : mediaType)'")
        }
    }

    static func urlEncoded(_ body: String) -> FormData {
        var form = FormData()
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String {
                let spaced = text.replacingOccurrences(of: "+", with: " ")
                return spaced.removingPercentEncoding ?? spaced
            }
            let name = decode(parts[0])
            let value = parts.count > 1 ? decode(parts[1]) : ""
            if form.fields[name] == nil { form.fields[name] = value }
        }
        return form
    }

    /// A `name=value` parameter of a header such as `multipart/form-data; boundary=...` or
    /// `form-data; name="image"; filename="cell.png"`.
    static func parameter(_ name: String, of header: String) -> String? {
        for part in header.split(separator: ";").dropFirst() {
            let pair = part.split(separator: "=", maxSplits: 1)
            guard pair.count == 2, pair[0].trimmingCharacters(in: .whitespaces).lowercased() == name else { continue }
            var value = pair[1].trimmingCharacters(in: .whitespaces)
            if value.hasPrefix("\""), value.hasSuffix("\""), value.count >= 2 { value = String(value.dropFirst().dropLast()) }
            return value
        }
        return nil
    }

    static func multipart(_ buffer: ByteBuffer, boundary: String) throws(PortalRefusal) -> FormData {
        /// What the parser's callbacks collect, part by part.
        final class Collector {
            var form = FormData()
            var disposition = ""
            var body: [UInt8] = []

            func finishPart() {
                defer { disposition = ""; body = [] }
                guard let name = FormReader.parameter("name", of: disposition) else { return }
                if let fileName = FormReader.parameter("filename", of: disposition) {
                    // A file input left empty still sends a part, with an empty name and no bytes.
                    if !fileName.isEmpty || !body.isEmpty, form.files[name] == nil {
                        form.files[name] = UploadedFile(fileName: fileName, bytes: body)
                    }
                } else if form.fields[name] == nil {
                    form.fields[name] = String(decoding: body, as: UTF8.self)
                }
            }
        }
        let collector = Collector()
        let parser = MultipartParser(boundary: boundary)
        parser.onHeader = { name, value in
            if name.lowercased() == "content-disposition" { collector.disposition = value }
        }
        parser.onBody = { chunk in collector.body += chunk.readableBytesView }
        parser.onPartComplete = { collector.finishPart() }
        do {
            try parser.execute(buffer)
        } catch {
            throw .unreadableForm("the multipart form is malformed (\(error))")
        }
        return collector.form
    }
}
