import Foundation
import LeukData
import Testing

@Suite("Dataset layouts")
struct DatasetTests {
    @Test func labelMapParsesAndRejectsBadInput() throws {
        let map = try LabelMap(parsing: "Benign=hem, Early=all,Pre=all,Pro=all")
        #expect(map.label(forFolder: "Benign") == "hem")
        #expect(map.label(forFolder: "Pro") == "all")
        #expect(map.label(forFolder: "Other") == nil)
        #expect(map.labels == ["hem", "all"])
        for bad in ["", "Benign", "Benign=", "=hem", "A=x,A=y", "A=x,,B=y", "A=b=c"] {
            #expect(throws: DatasetError.self) { try LabelMap(parsing: bad) }
        }
    }

    @Test func allIDBNamesAreRecognised() {
        #expect(AllIDBName(fileName: "Im001_1.jpg") == AllIDBName(fileName: "Im001_1.tif"))
        #expect(AllIDBName(fileName: "Im001_1.jpg")?.group == "Im001")
        #expect(AllIDBName(fileName: "Im001_1.jpg")?.isBlast == true)
        #expect(AllIDBName(fileName: "Im260_0.tif")?.isBlast == false)
        #expect(AllIDBName(fileName: "Im012_1_crop3.png")?.group == "Im012")
        for name in ["Im001_2.jpg", "im001_1.jpg", "Im_1.jpg", "Im001-1.jpg", "Im001_10.jpg", "Image_1.jpg", "WBC-Benign-001.jpg"] {
            #expect(AllIDBName(fileName: name) == nil, "\(name)")
        }
    }

    @Test func classFoldersWithAndWithoutALabelMap() throws {
        let dir = TemporaryDirectory()
        let png = try ImageEncoder.png(pattern(width: 4, height: 4))
        for (folder, n) in [("Benign", 2), ("Early", 3), ("Pre", 1)] {
            for i in 0..<n { dir.write("\(folder)/\(folder)-\(i).png", png) }
        }
        dir.write("README.md", Array("about".utf8))
        dir.write("Early/.hidden.png", png)

        let plain = try DatasetScanner.scan(directory: dir.path, labelMap: nil)
        #expect(plain.classes == ["Benign", "Early", "Pre"])
        #expect(plain.classCounts == [2, 3, 1])
        #expect(plain.problems.isEmpty)
        #expect(plain.ignoredFiles == 1)
        #expect(Set(plain.samples.map(\.group)).count == 6) // no grouping information: one group per file

        let binary = try DatasetScanner.scan(directory: dir.path, labelMap: try LabelMap(parsing: "Benign=hem,Early=all,Pre=all"))
        #expect(binary.classes == ["hem", "all"])
        #expect(binary.classCounts == [2, 4])

        let partial = try DatasetScanner.scan(directory: dir.path, labelMap: try LabelMap(parsing: "Benign=hem,Early=all"))
        #expect(partial.classCounts == [2, 3])
        #expect(partial.problems.count == 1)
        #expect(partial.problems[0].path.hasSuffix("Pre"))
        #expect(partial.problems[0].reason.contains("1 image"))
    }

    @Test func classOrderPutsHemBeforeAll() {
        #expect(Dataset.orderedClasses(["all", "hem"]) == ["hem", "all"])
        #expect(Dataset.orderedClasses(["zeta", "all", "hem", "alpha"]) == ["hem", "all", "alpha", "zeta"])
        #expect(Dataset.orderedClasses(["all", "other"]) == ["all", "other"])
    }

    @Test func allIDBFilesGroupBySmearAndUnlabelledFilesAreProblems() throws {
        let dir = TemporaryDirectory()
        let png = try ImageEncoder.png(pattern(width: 4, height: 4))
        dir.write("Im001_1.png", png)
        dir.write("Im001_1_b.png", png)
        dir.write("Im002_0.png", png)
        dir.write("stray.png", png)
        dir.write("img/Im003_1.tif", png) // ALL-IDB2 keeps its crops in img/: the name wins over the folder
        let data = try DatasetScanner.scan(directory: dir.path, labelMap: nil)
        #expect(data.classes == ["hem", "all"])
        #expect(data.classCounts == [1, 3])
        #expect(Set(data.samples.map(\.group)) == ["Im001", "Im002", "Im003"])
        #expect(data.problems.count == 1 && data.problems[0].path.hasSuffix("stray.png"))
    }

    @Test func manifestGroupsOverrideTheDefaults() throws {
        let dir = TemporaryDirectory()
        let png = try ImageEncoder.png(pattern(width: 4, height: 4))
        for name in ["a", "b", "c"] { dir.write("hem/\(name).png", png) }
        dir.write("all/Im004_1.png", png)
        let manifest = dir.write("groups.csv", Array("file,group\nhem/a.png,patient-1\nb.png,patient-1\n\"all/Im004_1.png\",\"patient, 2\"\n".utf8))
        let data = try DatasetScanner.scan(directory: dir.path, labelMap: nil, manifest: manifest)
        let groups = Dictionary(uniqueKeysWithValues: data.samples.map { (($0.path as NSString).lastPathComponent, $0.group) })
        #expect(groups["a.png"] == "patient-1")
        #expect(groups["b.png"] == "patient-1")
        #expect(groups["c.png"] == "hem/c.png")
        #expect(groups["Im004_1.png"] == "patient, 2")

        let broken = dir.write("broken.csv", Array("file,group\nonly-one-column\n".utf8))
        #expect(throws: DatasetError.manifest(path: broken, line: 2, reason: "expected 2 columns (file,group), found 1")) {
            try DatasetScanner.scan(directory: dir.path, labelMap: nil, manifest: broken)
        }
        #expect(throws: DatasetError.notADirectory(path: dir.file("nope"))) {
            try DatasetScanner.scan(directory: dir.file("nope"), labelMap: nil)
        }
    }

    @Test func inspectionCountsEverythingAndListsEveryProblem() throws {
        let dir = TemporaryDirectory()
        let png = try ImageEncoder.png(pattern(width: 8, height: 8))
        dir.write("hem/a.png", png)
        dir.write("hem/a-copy.png", png)
        dir.write("hem/b.bmp", try ImageEncoder.bmp(pattern(width: 8, height: 8, seed: 1)))
        dir.write("all/c.jpg", try ImageEncoder.jpeg(smooth(width: 10, height: 10)))
        try ImageEncoder.writeTIFF(pattern(width: 8, height: 8, seed: 2), to: dir.file("all/d.tif"))
        dir.write("all/empty.png", [])
        dir.write("all/text.jpg", Array("hello".utf8))
        dir.write("all/truncated.png", Array(png.prefix(png.count / 2)))
        dir.write("all/bomb.png", pngHeaderClaiming(width: 100_000, height: 100_000))
        dir.write("notes.txt", Array("x".utf8))

        let report = try DatasetInspector.inspect(directory: dir.path, labelMap: nil)
        #expect(report.usable)
        #expect(report.images == 5)
        #expect(report.classes == [.init(name: "hem", images: 3), .init(name: "all", images: 2)])
        #expect(report.sizes == [.init(width: 8, height: 8, images: 4), .init(width: 10, height: 10, images: 1)])
        #expect(Set(report.formats.map(\.format)) == ["PNG", "BMP", "JPEG", "TIFF"])
        #expect(report.duplicates == [[dir.file("hem/a-copy.png"), dir.file("hem/a.png")]])
        #expect(report.problems.map { ($0.path as NSString).lastPathComponent } == ["bomb.png", "empty.png", "text.jpg", "truncated.png"])
        #expect(report.problems[0].reason.contains("100000x100000"))
        #expect(report.ignoredFiles == 1)

        let single = TemporaryDirectory()
        single.write("hem/a.png", png)
        #expect(try DatasetInspector.inspect(directory: single.path, labelMap: nil).usable == false)
    }
}
