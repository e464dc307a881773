import Foundation

/// Writes a partition as one class-folder dataset per node: `OUT/node-<k>/<class>/<file>` (k from 1),
/// plus `OUT/node-<k>/manifest.csv` (`file,group`) so smear and patient groups survive the copy.
/// Files are copied, never moved; the source dataset is left untouched.
public enum PartitionWriter {
    /// Returns the image count per class (in `classes` order) for each node.
    @discardableResult
    public static func write(_ partition: [[DatasetSample]], classes: [String], to output: String) throws(DatasetError) -> [[Int]] {
        let fm = FileManager.default
        for k in partition.indices {
            let node = DatasetScanner.join(output, "node-\(k + 1)")
            if fm.fileExists(atPath: node) { throw .output(path: node, reason: "already exists; choose an empty output folder") }
        }
        var counts: [[Int]] = []
        for (k, samples) in partition.enumerated() {
            let node = DatasetScanner.join(output, "node-\(k + 1)")
            var perClass = [Int](repeating: 0, count: classes.count)
            var used: Set<String> = []
            var manifest = "file,group\n"
            for sample in samples {
                let folder = DatasetScanner.join(node, classes[sample.label])
                let base = (sample.path as NSString).lastPathComponent
                var name = base
                // Two source folders can hold the same file name (Early/x.jpg, Pre/x.jpg -> all/).
                if used.contains("\(classes[sample.label])/\(name)") {
                    let parent = ((sample.path as NSString).deletingLastPathComponent as NSString).lastPathComponent
                    name = "\(parent)-\(base)"
                    var n = 2
                    while used.contains("\(classes[sample.label])/\(name)") { name = "\(parent)-\(n)-\(base)"; n += 1 }
                }
                let relative = "\(classes[sample.label])/\(name)"
                used.insert(relative)
                do {
                    try fm.createDirectory(atPath: folder, withIntermediateDirectories: true)
                    try fm.copyItem(atPath: sample.path, toPath: DatasetScanner.join(folder, name))
                } catch {
                    throw .output(path: DatasetScanner.join(folder, name), reason: (error as NSError).localizedDescription)
                }
                manifest += "\(csvField(relative)),\(csvField(sample.group))\n"
                perClass[sample.label] += 1
            }
            do {
                try fm.createDirectory(atPath: node, withIntermediateDirectories: true)
                try manifest.write(toFile: DatasetScanner.join(node, "manifest.csv"), atomically: true, encoding: .utf8)
            } catch {
                throw .output(path: DatasetScanner.join(node, "manifest.csv"), reason: (error as NSError).localizedDescription)
            }
            counts.append(perClass)
        }
        return counts
    }

    private static func csvField(_ s: String) -> String {
        s.contains(",") ? "\"\(s)\"" : s
    }
}
