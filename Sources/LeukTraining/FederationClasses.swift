public import LeukData

/// The federation's class list: the classes belong to the federation, not to a site.
///
/// Every node's model has one output per federation class in this order, whatever its own images
/// hold, so a screening site that saw no leukemia this month (only `hem`), a referral centre that
/// sees only blasts (`all`), or a node with no images at all still builds the same network as
/// everyone else, trains on what it has and can mix the others' parameters. The list travels in
/// every signed update, and a receiver refuses an update that names another list.
public enum FederationClasses {
    /// The default list: normal cells, then blasts (a binary model's logits are (hem, all)).
    public static let standard = ["hem", "all"]
    /// Bounds on a configured list, so a config file or a flag cannot ask for an absurd model.
    public static let maximumClasses = 64
    public static let maximumNameBytes = 64

    /// Parses `hem,all` (comma-separated, order kept). Needs at least two distinct, non-empty names.
    public static func parse(_ text: String) throws(ExperimentError) -> [String] {
        let names = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingWhitespace() }
        try validate(names)
        return names
    }

    /// Checks a class list: 2...64 distinct names of 1...64 bytes without commas or control characters.
    public static func validate(_ names: [String]) throws(ExperimentError) {
        guard names.count >= 2, names.count <= maximumClasses else {
            throw ExperimentError("a federation needs between 2 and \(maximumClasses) classes, got \(names.count) (\(names.joined(separator: ",")))",
                                  hint: "list every class the federation diagnoses, e.g. --classes hem,all")
        }
        for name in names {
            guard !name.isEmpty, name.utf8.count <= maximumNameBytes,
                  !name.unicodeScalars.contains(where: { $0 == "," || $0.properties.generalCategory == .control }) else {
                throw ExperimentError("class name '\(name)' is not usable: 1 to \(maximumNameBytes) bytes, no commas or control characters")
            }
        }
        guard Set(names).count == names.count else {
            throw ExperimentError("the class list \(names.joined(separator: ",")) names a class twice")
        }
    }

    /// `dataset` with its labels renumbered into `classes`. A site may hold any subset of the
    /// federation's classes (one, or none); a folder that is not a federation class is an error,
    /// because its images would be trained under a wrong name.
    public static func relabel(_ dataset: Dataset, to classes: [String]) throws(ExperimentError) -> Dataset {
        var mapping: [Int] = []
        for name in dataset.classes {
            guard let index = classes.firstIndex(of: name) else {
                throw ExperimentError("the dataset's class '\(name)' is not one of the federation's classes \(classes.joined(separator: ","))",
                                      hint: "rename the folder, pass --label-map (e.g. Benign=hem,Early=all), or change the federation's class list")
            }
            mapping.append(index)
        }
        return Dataset(classes: classes, samples: dataset.samples.map { sample in
            var sample = sample
            sample.label = mapping[sample.label]
            return sample
        }, problems: dataset.problems, ignoredFiles: dataset.ignoredFiles)
    }
}

extension Substring {
    func trimmingWhitespace() -> String {
        var s = self
        while let first = s.first, first.isWhitespace { s.removeFirst() }
        while let last = s.last, last.isWhitespace { s.removeLast() }
        return String(s)
    }
}
