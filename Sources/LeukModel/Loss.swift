import Foundation

/// Softmax cross-entropy with optional per-class weights, with PyTorch's `CrossEntropyLoss(weight:)`
/// semantics: `loss = sum_i w[y_i] * -log p_i[y_i] / sum_i w[y_i]`.
///
/// Class weights let a node with few normal cells still pay for misclassifying them (specificity).
///
/// `logitOffsets` (one per class, added to every row's logits before the softmax) turn it into the
/// logit-adjusted loss of Menon et al. (ICLR 2021), the local objective of FedLC (Zhang et al., ICML
/// 2022) in its additive form: with offsets `tau * log(prior_c)` of the node's own label mix, the
/// network is trained to output `log p(x|c)` instead of `log p(c|x)`, so a node that sees only blasts
/// is not pushed to call everything a blast, and a class it never sees (prior near 0, a large negative
/// offset) receives almost no gradient to shrink its logit (the effect FedRS obtains by restricting the
/// softmax). The gradient with respect to the raw logits equals the one with respect to the adjusted
/// logits, so only the forward value changes. Inference never uses the offsets.
struct SoftmaxCrossEntropy {
    /// Computes the loss and writes `dLoss/dLogits` into `gradient` (rows x classes).
    ///
    /// `logitScales` (one per class, multiplying every row's logits before the offsets) give the
    /// restricted softmax of FedRS (Li and Zhan, KDD 2021): a node scales the logits of the classes it
    /// holds no image of by `alpha < 1`, so its local loss cannot push those classes' scores (and the
    /// classifier weights behind them) down at full strength. The gradient with respect to a raw logit is
    /// its scale times the gradient with respect to the scaled one.
    static func lossAndGradient(
        logits rawLogits: UnsafePointer<Float>, labels: UnsafePointer<Int32>, batch: Int, classes: Int,
        classWeights: [Float]?, logitOffsets: [Float]? = nil, logitScales: [Float]? = nil, gradient: UnsafeMutablePointer<Float>?
    ) -> Float {
        if let logitScales {
            precondition(logitScales.count == classes, "\(logitScales.count) logit scales for \(classes) classes")
            var scaled = [Float](repeating: 0, count: batch * classes)
            for i in 0..<batch { for k in 0..<classes { scaled[i * classes + k] = rawLogits[i * classes + k] * logitScales[k] } }
            let loss = scaled.withUnsafeBufferPointer { buffer in
                lossAndGradient(logits: buffer.baseAddress!, labels: labels, batch: batch, classes: classes,
                                classWeights: classWeights, logitOffsets: logitOffsets, logitScales: nil, gradient: gradient)
            }
            if let gradient { for i in 0..<batch { for k in 0..<classes { gradient[i * classes + k] *= logitScales[k] } } }
            return loss
        }
        if let logitOffsets {
            precondition(logitOffsets.count == classes, "\(logitOffsets.count) logit offsets for \(classes) classes")
            var adjusted = [Float](repeating: 0, count: batch * classes)
            for i in 0..<batch { for k in 0..<classes { adjusted[i * classes + k] = rawLogits[i * classes + k] + logitOffsets[k] } }
            return adjusted.withUnsafeBufferPointer { buffer in
                lossAndGradient(logits: buffer.baseAddress!, labels: labels, batch: batch, classes: classes,
                                classWeights: classWeights, logitOffsets: nil, gradient: gradient)
            }
        }
        let logits = rawLogits
        var totalWeight = 0.0
        for i in 0..<batch { totalWeight += Double(classWeights?[Int(labels[i])] ?? 1) }
        guard totalWeight > 0 else {
            if let gradient { gradient.update(repeating: 0, count: batch * classes) }
            return 0
        }
        var loss = 0.0
        for i in 0..<batch {
            let row = logits + i * classes
            let label = Int(labels[i])
            var maxLogit = row[0]
            for k in 1..<classes where row[k] > maxLogit { maxLogit = row[k] }
            var sum = 0.0
            for k in 0..<classes { sum += Foundation.exp(Double(row[k] - maxLogit)) }
            let logSum = Foundation.log(sum) + Double(maxLogit)
            let weight = Double(classWeights?[label] ?? 1)
            loss += weight * (logSum - Double(row[label]))
            if let gradient {
                let scale = weight / totalWeight
                for k in 0..<classes {
                    let p = Foundation.exp(Double(row[k]) - logSum)
                    gradient[i * classes + k] = Float(scale * (p - (k == label ? 1 : 0)))
                }
            }
        }
        return Float(loss / totalWeight)
    }

    /// Row-wise softmax of `logits` into `probabilities`.
    static func softmax(_ logits: UnsafePointer<Float>, batch: Int, classes: Int, into probabilities: UnsafeMutablePointer<Float>) {
        for i in 0..<batch {
            let row = logits + i * classes, out = probabilities + i * classes
            var maxLogit = row[0]
            for k in 1..<classes where row[k] > maxLogit { maxLogit = row[k] }
            var sum = 0.0
            for k in 0..<classes { sum += Foundation.exp(Double(row[k] - maxLogit)) }
            for k in 0..<classes { out[k] = Float(Foundation.exp(Double(row[k] - maxLogit)) / sum) }
        }
    }
}
