/// Every sample decoded and resized to the model's input size once, in parallel, and kept in memory
/// between epochs (64x64 RGB is 12 KiB an image; 10,000 images are 120 MiB). Bad files are skipped
/// and recorded in `problems`; they never abort a run. Immutable after `init`, hence `Sendable`.
public final class ImageCache: Sendable {
    /// Model input side, in pixels.
    public let size: Int
    public let classes: [String]
    /// The samples that decoded, in the order given; `images[i]` belongs to `samples[i]`.
    public let samples: [DatasetSample]
    public let images: [RGBImage]
    /// The samples that did not decode, with the reason.
    public let problems: [DatasetProblem]

    /// Decodes `samples` on `threads` threads. `onProblem` is called (from a worker thread) for each
    /// bad file, so a caller can log a warning as it happens.
    public init(samples: [DatasetSample], classes: [String], size: Int, threads: Int = 2, limits: DecodeLimits = .standard,
                onProblem: (@Sendable (DatasetProblem) -> Void)? = nil) {
        precondition(size > 0, "ImageCache size must be positive")
        let decoded = parallelMap(count: samples.count, threads: threads) { i -> Result<RGBImage, ImageError> in
            do throws(ImageError) {
                return .success(resizeBilinear(try ImageDecoder.decode(path: samples[i].path, limits: limits), to: size))
            } catch {
                onProblem?(DatasetProblem(error))
                return .failure(error)
            }
        }
        var kept: [DatasetSample] = [], images: [RGBImage] = [], problems: [DatasetProblem] = []
        for (sample, result) in zip(samples, decoded) {
            switch result {
            case .success(let image): kept.append(sample); images.append(image)
            case .failure(let error): problems.append(DatasetProblem(error))
            }
        }
        self.size = size
        self.classes = classes
        self.samples = kept
        self.images = images
        self.problems = problems
    }

    public convenience init(dataset: Dataset, size: Int, threads: Int = 2, onProblem: (@Sendable (DatasetProblem) -> Void)? = nil) {
        self.init(samples: dataset.samples, classes: dataset.classes, size: size, threads: threads, onProblem: onProblem)
    }

    /// Images already in memory (synthetic data rendered on the fly, tests).
    public init(images: [RGBImage], samples: [DatasetSample], classes: [String], size: Int) {
        precondition(images.count == samples.count, "one sample per image")
        self.size = size
        self.classes = classes
        self.samples = samples
        self.images = images.map { resizeBilinear($0, to: size) }
        self.problems = []
    }

    public var count: Int { images.count }

    /// The same samples with every image transformed (stain normalisation fitted on the training images).
    public func mapped(_ transform: (RGBImage) -> RGBImage) -> ImageCache {
        ImageCache(transformed: images.map(transform), samples: samples, classes: classes, size: size, problems: problems)
    }

    private init(transformed images: [RGBImage], samples: [DatasetSample], classes: [String], size: Int, problems: [DatasetProblem]) {
        self.size = size
        self.classes = classes
        self.samples = samples
        self.images = images
        self.problems = problems
    }

    /// Channel statistics over the cached images; fit this on the training cache only.
    public func fitNormalization() -> Normalization { Normalization.fit(images) }
}
