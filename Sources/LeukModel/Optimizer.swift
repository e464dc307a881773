import Foundation

/// Which optimiser updates the weights, with its hyper-parameters (PyTorch's semantics and defaults).
public enum OptimizerKind: Sendable, Equatable, Codable {
    /// `v = momentum * v + (g + weightDecay * p); p -= lr * v` (torch.optim.SGD, dampening 0).
    case sgd(momentum: Float = 0.9, weightDecay: Float = 5e-4)
    /// torch.optim.Adam with L2 weight decay added to the gradient.
    case adam(beta1: Float = 0.9, beta2: Float = 0.999, epsilon: Float = 1e-8, weightDecay: Float = 0)

    /// The optimiser called `name` with its default hyper-parameters (`sgd`, `adam`), for the CLI.
    public init?(named name: String) {
        switch name {
        case "sgd": self = .sgd()
        case "adam": self = .adam()
        default: return nil
        }
    }

    public var name: String {
        switch self {
        case .sgd: "sgd"
        case .adam: "adam"
        }
    }
}

/// The optimiser state over the network's flat, internal-layout parameter block.
///
/// Updates are element-wise, so the internal layout gives exactly PyTorch's result. `package` so the
/// federated trainer keeps one optimiser state per node across rounds on top of the same code
/// (one implementation of SGD and Adam, not two).
package final class OptimizerState {
    package let kind: OptimizerKind
    private(set) var firstMoment: [Float]
    private(set) var secondMoment: [Float]
    package private(set) var step: Int = 0

    package init(kind: OptimizerKind, count: Int) {
        self.kind = kind
        firstMoment = Array(repeating: 0, count: count)
        if case .adam = kind { secondMoment = Array(repeating: 0, count: count) } else { secondMoment = [] }
    }

    package func reset() {
        for i in firstMoment.indices { firstMoment[i] = 0 }
        for i in secondMoment.indices { secondMoment[i] = 0 }
        step = 0
    }

    /// Restores saved moments (a resumed checkpoint). Sizes must match.
    func restore(first: [Float], second: [Float], step: Int) -> Bool {
        guard first.count == firstMoment.count, second.count == secondMoment.count else { return false }
        firstMoment = first; secondMoment = second; self.step = step
        return true
    }

    /// One step on parameters `from..<count` (the ones before `from` are frozen: fine-tuning only a model's
    /// classifier); the moments of frozen parameters stay zero.
    package func apply(parameters p: UnsafeMutablePointer<Float>, gradients g: UnsafePointer<Float>, count: Int, learningRate lr: Float,
                       from start: Int = 0) {
        step += 1
        switch kind {
        case let .sgd(momentum, weightDecay):
            firstMoment.withUnsafeMutableBufferPointer { v in
                for i in start..<count {
                    let grad = g[i] + weightDecay * p[i]
                    v[i] = momentum * v[i] + grad
                    p[i] -= lr * v[i]
                }
            }
        case let .adam(beta1, beta2, epsilon, weightDecay):
            let correction1 = 1 - Foundation.pow(beta1, Float(step))
            let correction2 = 1 - Foundation.pow(beta2, Float(step))
            let stepSize = lr / correction1
            let root2 = correction2.squareRoot()
            firstMoment.withUnsafeMutableBufferPointer { m in
                secondMoment.withUnsafeMutableBufferPointer { v in
                    for i in start..<count {
                        let grad = g[i] + weightDecay * p[i]
                        m[i] = beta1 * m[i] + (1 - beta1) * grad
                        v[i] = beta2 * v[i] + (1 - beta2) * grad * grad
                        let denominator = v[i].squareRoot() / root2 + epsilon
                        p[i] -= stepSize * m[i] / denominator
                    }
                }
            }
        }
    }
}

/// Learning rate as a function of the epoch (0-based).
public enum LearningRateSchedule: Sendable, Equatable, Codable {
    case constant
    /// Multiply by `gamma` every `every` epochs (torch StepLR).
    case step(every: Int, gamma: Float)
    /// Cosine annealing from the base rate down to `minimum` over `epochs` (torch CosineAnnealingLR).
    case cosine(epochs: Int, minimum: Float = 0)

    public func rate(base: Float, epoch: Int) -> Float {
        switch self {
        case .constant:
            return base
        case let .step(every, gamma):
            return base * Foundation.pow(gamma, Float(epoch / max(1, every)))
        case let .cosine(epochs, minimum):
            let t = Float(min(epoch, max(1, epochs))) / Float(max(1, epochs))
            return minimum + 0.5 * (base - minimum) * (1 + Foundation.cos(Float.pi * t))
        }
    }
}
