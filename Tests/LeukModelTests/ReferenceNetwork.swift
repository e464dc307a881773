import Foundation
@testable import LeukModel

/// An independent, naive NCHW implementation in Double of PyTorch's semantics for both architectures,
/// reading the PyTorch-layout parameters by name. The engine (channels-last, fused, GEMM-based) must
/// agree with it; this is what makes a PyTorch `state_dict` mean the same network here.
struct ReferenceNetwork {
    let tensors: [String: [Double]]
    let architecture: Architecture
    let classes: Int

    init(model: Model) {
        var tensors: [String: [Double]] = [:]
        var offset = 0
        let flat = model.parameters
        for description in model.parameterDescriptions {
            tensors[description.name] = flat[offset..<(offset + description.count)].map(Double.init)
            offset += description.count
        }
        self.tensors = tensors
        architecture = model.architecture
        classes = model.classes.count
    }

    /// x: C x H x W.
    func conv(_ x: [Double], c: Int, h: Int, w: Int, name: String, out: Int) -> [Double] {
        let weight = tensors["\(name).weight"]!, bias = tensors["\(name).bias"]!
        var y = [Double](repeating: 0, count: out * h * w)
        for o in 0..<out {
            for i in 0..<h {
                for j in 0..<w {
                    var sum = bias[o]
                    for ci in 0..<c {
                        for ky in 0..<3 {
                            for kx in 0..<3 {
                                let yy = i + ky - 1, xx = j + kx - 1
                                guard yy >= 0, yy < h, xx >= 0, xx < w else { continue }
                                sum += weight[((o * c + ci) * 3 + ky) * 3 + kx] * x[(ci * h + yy) * w + xx]
                            }
                        }
                    }
                    y[(o * h + i) * w + j] = sum
                }
            }
        }
        return y
    }

    func groupNorm(_ x: [Double], c: Int, h: Int, w: Int, name: String, groups: Int) -> [Double] {
        let gamma = tensors["\(name).weight"]!, beta = tensors["\(name).bias"]!
        var y = x
        let per = c / groups, plane = h * w
        for g in 0..<groups {
            let range = (g * per * plane)..<((g + 1) * per * plane)
            let mean = x[range].reduce(0, +) / Double(range.count)
            let variance = x[range].reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(range.count)
            for i in range {
                let channel = i / plane
                y[i] = (x[i] - mean) / (variance + 1e-5).squareRoot() * gamma[channel] + beta[channel]
            }
        }
        return y
    }

    func reluPool(_ x: [Double], c: Int, h: Int, w: Int) -> [Double] {
        var y = [Double](repeating: 0, count: c * (h / 2) * (w / 2))
        for ch in 0..<c {
            for i in 0..<(h / 2) {
                for j in 0..<(w / 2) {
                    var best = -Double.infinity
                    for dy in 0..<2 { for dx in 0..<2 { best = max(best, x[(ch * h + 2 * i + dy) * w + 2 * j + dx]) } }
                    y[(ch * (h / 2) + i) * (w / 2) + j] = max(0, best)
                }
            }
        }
        return y
    }

    func dense(_ x: [Double], name: String, out: Int) -> [Double] {
        let weight = tensors["\(name).weight"]!, bias = tensors["\(name).bias"]!
        return (0..<out).map { o in
            var sum = bias[o]
            for i in 0..<x.count { sum += weight[o * x.count + i] * x[i] }
            return sum
        }
    }

    /// Logits for one CHW image.
    func logits(_ image: [Double], size: Int) -> [Double] {
        var x = image, c = 3, h = size
        let widths = architecture == .leuknetS ? [16, 32, 64] : [32, 64, 128, 128]
        for (index, out) in widths.enumerated() {
            x = conv(x, c: c, h: h, w: h, name: "conv\(index + 1)", out: out)
            if architecture == .leuknetM { x = groupNorm(x, c: out, h: h, w: h, name: "gn\(index + 1)", groups: 8) }
            x = reluPool(x, c: out, h: h, w: h)
            c = out; h /= 2
        }
        let hidden = architecture == .leuknetS ? 64 : 128
        x = dense(x, name: "fc1", out: hidden).map { max(0, $0) }
        return dense(x, name: "fc2", out: classes)
    }
}
