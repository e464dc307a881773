public import LeukCore

/// Maps folder names onto class names, parsed from `Folder=class,Folder2=class` (the `--label-map`
/// flag). Several folders may map onto one class (`Early=all,Pre=all,Pro=all`).
public struct LabelMap: Sendable, Equatable {
    /// Folder name to class name, in the order given.
    public private(set) var entries: [(folder: String, label: String)]

    public init(parsing text: String) throws(DatasetError) {
        var entries: [(folder: String, label: String)] = []
        var seen: Set<String> = []
        for rawEntry in text.split(separator: ",", omittingEmptySubsequences: false) {
            let entry = rawEntry.trimmingSpaces
            if entry.isEmpty { throw .invalidLabelMap(text: text, reason: "an entry is empty (stray comma?)") }
            let parts = entry.split(separator: "=", omittingEmptySubsequences: false)
            guard parts.count == 2 else { throw .invalidLabelMap(text: text, reason: "'\(entry)' is not Folder=class") }
            let folder = parts[0].trimmingSpaces, label = parts[1].trimmingSpaces
            guard !folder.isEmpty, !label.isEmpty else { throw .invalidLabelMap(text: text, reason: "'\(entry)' has an empty side") }
            guard !label.contains("/") else { throw .invalidLabelMap(text: text, reason: "class '\(label)' contains '/'") }
            guard seen.insert(folder).inserted else { throw .invalidLabelMap(text: text, reason: "folder '\(folder)' appears twice") }
            entries.append((folder, label))
        }
        self.entries = entries
    }

    /// The class for a folder name, or `nil` when the map does not mention it.
    public func label(forFolder folder: String) -> String? {
        entries.first { $0.folder == folder }?.label
    }

    public var labels: Set<String> { Set(entries.map(\.label)) }

    public static func == (a: LabelMap, b: LabelMap) -> Bool {
        a.entries.map(\.folder) == b.entries.map(\.folder) && a.entries.map(\.label) == b.entries.map(\.label)
    }
}

extension Substring {
    var trimmingSpaces: String {
        String(drop(while: { $0 == " " || $0 == "\t" }).reversed().drop(while: { $0 == " " || $0 == "\t" || $0 == "\r" }).reversed())
    }
}

/// One image of a dataset: where it is, its class index into `Dataset.classes`, and the group it
/// belongs to (source smear or patient) so that splits never separate a group.
public struct DatasetSample: Sendable, Hashable, Codable {
    public var path: String
    public var label: Int
    public var group: String

    public init(path: String, label: Int, group: String) {
        self.path = path; self.label = label; self.group = group
    }
}

/// A file that could not be used, and why. Problems are reported and counted, never fatal.
public struct DatasetProblem: Sendable, Hashable, Codable, CustomStringConvertible {
    public var path: String
    public var reason: String

    public init(path: String, reason: String) {
        self.path = path; self.reason = reason
    }

    public init(_ error: ImageError) {
        self.init(path: error.file, reason: error.reason)
    }

    public var description: String { "\(path): \(reason)" }
}

/// A labelled set of image files.
public struct Dataset: Sendable, Equatable {
    /// Class names; a sample's `label` indexes this. `["hem", "all"]` comes first whenever both are
    /// present, so a binary model's logits are (hem, all); other names follow, sorted.
    public var classes: [String]
    public var samples: [DatasetSample]
    public var problems: [DatasetProblem]
    /// Files skipped without complaint because they are not images by extension (README, CSV...).
    public var ignoredFiles: Int

    public init(classes: [String], samples: [DatasetSample], problems: [DatasetProblem] = [], ignoredFiles: Int = 0) {
        self.classes = classes; self.samples = samples; self.problems = problems; self.ignoredFiles = ignoredFiles
    }

    /// Images per class, in class order.
    public var classCounts: [Int] {
        var counts = [Int](repeating: 0, count: classes.count)
        for sample in samples { counts[sample.label] += 1 }
        return counts
    }

    /// The same dataset restricted to some samples (class list kept, so labels stay comparable).
    public func subset(_ samples: [DatasetSample]) -> Dataset {
        Dataset(classes: classes, samples: samples)
    }

    /// The canonical class order: hem, all first when both exist, then the rest sorted.
    public static func orderedClasses(_ names: Set<String>) -> [String] {
        var rest = names
        var ordered: [String] = []
        if names.contains("hem") && names.contains("all") {
            ordered = ["hem", "all"]
            rest.remove("hem"); rest.remove("all")
        }
        return ordered + rest.sorted()
    }
}

/// Why a dataset could not be read at all (as opposed to a bad file inside it).
public enum DatasetError: LeukUserFacingError, Equatable {
    case invalidLabelMap(text: String, reason: String)
    case notADirectory(path: String)
    case unreadableDirectory(path: String, reason: String)
    case manifest(path: String, line: Int, reason: String)
    case noImages(path: String)
    case partition(reason: String)
    case output(path: String, reason: String)

    public var description: String {
        switch self {
        case .invalidLabelMap(let text, let reason): return "label map '\(text)' is invalid: \(reason)"
        case .notADirectory(let path): return "dataset '\(path)' is not a directory"
        case .unreadableDirectory(let path, let reason): return "dataset folder '\(path)' cannot be read: \(reason)"
        case .manifest(let path, let line, let reason): return "manifest '\(path)' line \(line): \(reason)"
        case .noImages(let path): return "dataset '\(path)' contains no labelled images"
        case .partition(let reason): return "cannot partition the dataset: \(reason)"
        case .output(let path, let reason): return "cannot write '\(path)': \(reason)"
        }
    }

    public var hint: String? {
        switch self {
        case .invalidLabelMap: return "write it as Folder=class pairs separated by commas, e.g. Benign=hem,Early=all,Pre=all,Pro=all"
        case .notADirectory, .unreadableDirectory: return "pass the folder that holds one sub-folder per class"
        case .manifest: return "the manifest is CSV with two columns, file,group (file relative to the dataset folder)"
        case .noImages: return "use DIR/<class>/*.png|jpg|bmp|tif, ALL-IDB names ImNNN_Y.ext, or pass --label-map"
        case .partition: return nil
        case .output: return "choose an output folder you can write to"
        }
    }
}
