import Foundation

/// Finds the labelled images under a folder. Reads directory entries only, never pixels, so it is
/// fast on large datasets; `DatasetInspector` and `ImageCache` decode later and record bad files.
///
/// How a file gets its class, first rule that applies:
/// 1. its folder is named in the `--label-map` (the folder directly containing the file);
/// 2. its name follows ALL-IDB, `ImNNN_Y.ext` (Y = 1 blast -> `all`, Y = 0 normal -> `hem`);
/// 3. without a label map, its folder's name is the class (C-NMC: `all/`, `hem/`);
/// otherwise it is reported as a problem (unmapped folder, or an unlabelled file at the top).
///
/// A file's group is, first that applies: the manifest's group for it, its ALL-IDB `ImNNN`
/// (crops from one smear), or the file itself.
public enum DatasetScanner {
    public static func scan(directory: String, labelMap: LabelMap?, manifest: String? = nil) throws(DatasetError) -> Dataset {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw .notADirectory(path: directory)
        }
        // An explicit manifest wins; otherwise DIR/manifest.csv (what `dataset split` writes) is used.
        let implicit = join(directory, "manifest.csv")
        let manifestPath = manifest ?? (FileManager.default.fileExists(atPath: implicit) ? implicit : nil)
        let groups = try manifestPath.map { path throws(DatasetError) in try Manifest.read(path: path) } ?? [:]
        var files: [String] = []
        var ignored = 0
        try walk(root: directory, relative: "", depth: 0, files: &files, ignored: &ignored)
        files.sort()

        var labelled: [(relative: String, label: String, group: String)] = []
        var problems: [DatasetProblem] = []
        var unmapped: [String: Int] = [:]
        for relative in files {
            let components = relative.split(separator: "/").map(String.init)
            let name = components.last!
            let folder = components.count > 1 ? components[components.count - 2] : nil
            let allIDB = AllIDBName(fileName: name)
            let label: String
            if let folder, let mapped = labelMap?.label(forFolder: folder) {
                label = mapped
            } else if let allIDB {
                label = allIDB.isBlast ? "all" : "hem"
            } else if let folder, labelMap == nil {
                label = folder
            } else if folder != nil {
                let folderPath = components.dropLast().joined(separator: "/")
                unmapped[folderPath, default: 0] += 1
                continue
            } else {
                problems.append(DatasetProblem(path: join(directory, relative),
                                               reason: "is not in a class folder and not named like ALL-IDB (ImNNN_Y.ext)"))
                continue
            }
            let group = groups[relative] ?? groups[name] ?? allIDB?.group ?? relative
            labelled.append((relative, label, group))
        }
        for (folder, count) in unmapped.sorted(by: { $0.key < $1.key }) {
            problems.append(DatasetProblem(path: join(directory, folder),
                                           reason: "folder is not in the label map; \(count) image(s) ignored"))
        }
        let classes = Dataset.orderedClasses(Set(labelled.map(\.label)))
        let index = Dictionary(uniqueKeysWithValues: classes.enumerated().map { ($1, $0) })
        let samples = labelled.map { DatasetSample(path: join(directory, $0.relative), label: index[$0.label]!, group: $0.group) }
        return Dataset(classes: classes, samples: samples, problems: problems, ignoredFiles: ignored)
    }

    static func join(_ directory: String, _ relative: String) -> String {
        directory.hasSuffix("/") ? directory + relative : directory + "/" + relative
    }

    private static let maxDepth = 8

    private static func walk(root: String, relative: String, depth: Int, files: inout [String], ignored: inout Int) throws(DatasetError) {
        let path = relative.isEmpty ? root : join(root, relative)
        let entries: [String]
        do {
            entries = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw .unreadableDirectory(path: path, reason: (error as NSError).localizedDescription)
        }
        for entry in entries where !entry.hasPrefix(".") {
            let child = relative.isEmpty ? entry : relative + "/" + entry
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: join(root, child), isDirectory: &isDirectory) else { continue }
            if isDirectory.boolValue {
                if depth < maxDepth { try walk(root: root, relative: child, depth: depth + 1, files: &files, ignored: &ignored) }
            } else if isImageFileName(entry) {
                files.append(child)
            } else {
                ignored += 1
            }
        }
    }

    /// True for the extensions the project reads (case-insensitive).
    public static func isImageFileName(_ name: String) -> Bool {
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return false }
        return ImageFormat.imageExtensions.contains(name[name.index(after: dot)...].lowercased())
    }
}

/// ALL-IDB file naming: `ImNNN_Y.ext`, NNN the source smear, Y = 1 for a blast and 0 for normal.
/// Crops may carry a suffix after Y (`Im012_1_crop3.png`); they stay in the smear's group.
public struct AllIDBName: Sendable, Equatable {
    /// `ImNNN`, shared by every crop from one smear.
    public var group: String
    public var isBlast: Bool

    public init?(fileName: String) {
        let stem = fileName.split(separator: ".", omittingEmptySubsequences: false).first.map(String.init) ?? fileName
        let chars = Array(stem)
        guard chars.count >= 6, chars[0] == "I", chars[1] == "m" else { return nil }
        var i = 2
        while i < chars.count, chars[i].isASCII, chars[i].isNumber { i += 1 }
        guard i - 2 >= 1, i + 1 < chars.count, chars[i] == "_", chars[i + 1] == "0" || chars[i + 1] == "1" else { return nil }
        guard i + 2 == chars.count || chars[i + 2] == "_" || chars[i + 2] == "-" else { return nil }
        group = String(chars[0..<i])
        isBlast = chars[i + 1] == "1"
    }
}

/// The optional CSV manifest, `file,group`, giving each file's patient or smear.
enum Manifest {
    static func read(path: String) throws(DatasetError) -> [String: String] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .manifest(path: path, line: 0, reason: "cannot be read: \((error as NSError).localizedDescription)")
        }
        var groups: [String: String] = [:]
        for (number, rawLine) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = Substring(rawLine).trimmingSpaces
            if line.isEmpty || line.hasPrefix("#") { continue }
            let fields = splitCSV(line)
            guard fields.count == 2 else { throw .manifest(path: path, line: number + 1, reason: "expected 2 columns (file,group), found \(fields.count)") }
            if number == 0 && fields[0].lowercased() == "file" && fields[1].lowercased() == "group" { continue }
            guard !fields[0].isEmpty, !fields[1].isEmpty else { throw .manifest(path: path, line: number + 1, reason: "empty file or group") }
            if let previous = groups[fields[0]], previous != fields[1] {
                throw .manifest(path: path, line: number + 1, reason: "'\(fields[0])' is listed in groups '\(previous)' and '\(fields[1])'")
            }
            groups[fields[0]] = fields[1]
        }
        return groups
    }

    /// Splits one CSV line; double quotes protect commas, `""` inside quotes is a quote.
    static func splitCSV(_ line: String) -> [String] {
        var fields: [String] = [], current = "", quoted = false
        var chars = line.makeIterator()
        while let ch = chars.next() {
            if quoted {
                if ch == "\"" {
                    if let nextChar = chars.next() {
                        if nextChar == "\"" { current.append("\"") } else { quoted = false; if nextChar == "," { fields.append(current); current = "" } else { current.append(nextChar) } }
                    } else { quoted = false }
                } else { current.append(ch) }
            } else if ch == "\"" && current.isEmpty {
                quoted = true
            } else if ch == "," {
                fields.append(current); current = ""
            } else { current.append(ch) }
        }
        fields.append(current)
        return fields.map { Substring($0).trimmingSpaces }
    }
}
