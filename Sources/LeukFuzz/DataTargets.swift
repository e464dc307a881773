import Foundation
import LeukCore
import LeukData
import LeukModel
import LeukTensor

/// Files a clinic or an operator hands the node: cell images (the doctor's upload, a dataset) and model files.
enum DataTargets {
    /// `ImageDecoder.decode` with the standard limits (size, dimensions, the decompression-bomb guard): PNG,
    /// JPEG and BMP through stb_image, TIFF through libtiff. A decoded image must be as large as its header said.
    static let image = FuzzTarget(
        name: "image", summary: "an uploaded cell image, PNG, JPEG, BMP or TIFF, with the bomb guard (ImageDecoder.decode)",
        seedsCommitted: false,
        run: { bytes in
            do {
                let header = try ImageDecoder.inspectHeader(bytes: bytes, name: "fuzz")
                let image = try ImageDecoder.decode(bytes: bytes, name: "fuzz")
                precondition(image.width == header.width && image.height == header.height, "decoded size differs from the header's")
                precondition(image.pixels.count == image.width * image.height * 3)
                return .accepted
            } catch {
                return .of(error)
            }
        },
        seeds: {
            let image = RGBImage(width: 6, height: 4, pixels: (0..<72).map { UInt8(truncatingIfNeeded: $0 * 37) })
            let grey = (0..<24).map { UInt8($0 * 10) }
            let rgba = (0..<96).map { UInt8(truncatingIfNeeded: $0 * 11) }
            var seeds = [FuzzSeed("rgb.png", try! ImageEncoder.png(image)),
                         FuzzSeed("grey.png", try! ImageEncoder.png(width: 6, height: 4, channels: .grey, samples: grey)),
                         FuzzSeed("rgba.png", try! ImageEncoder.png(width: 6, height: 4, channels: .rgba, samples: rgba)),
                         FuzzSeed("rgb.jpg", try! ImageEncoder.jpeg(image, quality: 50)),
                         FuzzSeed("rgb.bmp", try! ImageEncoder.bmp(image))]
            let folder = FileManager.default.temporaryDirectory.appendingPathComponent("leukfuzz-seeds-\(getpid())").path
            try! FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(atPath: folder) }
            for (name, lzw, channels, samples) in [("rgb.tif", false, ImageEncoder.Channels.rgb, image.pixels),
                                                   ("rgb-lzw.tif", true, .rgb, image.pixels),
                                                   ("grey.tif", false, .grey, grey)] {
                let path = folder + "/" + name
                try! ImageEncoder.writeTIFF(width: 6, height: 4, channels: channels, samples: samples, to: path, lzw: lzw)
                seeds.append(FuzzSeed(name, [UInt8](FileManager.default.contents(atPath: path)!)))
            }
            return seeds
        })

    /// `SafetensorsFile.decode`, then `ModelFile.load(bytes:)`, which reads the metadata, builds the network
    /// the file names and checks every tensor against it. `.accepted` means the container was read; the
    /// model's own refusal (a tensor missing, the wrong shape) is a clean end too. The seeds stay a few
    /// hundred bytes: a whole model is 110 KB even at 8x8 pixels.
    static let safetensors = FuzzTarget(
        name: "safetensors", summary: "a model file: the safetensors container, then the model it describes (ModelFile.load)",
        run: { bytes in
            do {
                _ = try SafetensorsFile.decode(bytes)
            } catch {
                return .of(error)
            }
            _ = try? Model.load(bytes: bytes, path: "fuzz.safetensors")
            return .accepted
        },
        seeds: {
            let metadata = ["architecture": "leuknet-s", "classes": "hem,all", "input_size": "8", "mean": "0.5, 0.5, 0.5",
                            "std": "0.25,0.25,0.25"]
            let small = SafetensorsFile(entries: [.init(name: "fc2.bias", tensor: Tensor(shape: [2], scalars: [0.5, -0.5])),
                                                  .init(name: "fc2.weight", tensor: Tensor(shape: [2, 2], scalars: [1, 2, 3, 4]))],
                                        metadata: metadata)
            return [FuzzSeed("leuknet-s-partial", small.encoded()),
                    FuzzSeed("empty-model", SafetensorsFile(entries: [], metadata: metadata).encoded()),
                    FuzzSeed("tensors-only", SafetensorsFile(entries: [.init(name: "x", tensor: Tensor(shape: [1, 3], scalars: [1, 0, -1]))],
                                                             metadata: [:]).encoded())]
        })
}
