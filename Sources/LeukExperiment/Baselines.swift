import LeukTraining

/// The reference models a federation is judged against, trained the one way both `simulate` and
/// `demo` train them, so the two commands' "local-only" and "centralized" rows mean the same thing.
///
/// A baseline trains `rounds` rounds of its session's `stepsPerRound` steps from the federation's
/// initial parameters, with the learning rate annealed by `SimulationRunner.scheduleFactor` (the
/// cosine the federated nodes of a simulation follow). The centralized model sees as many images per
/// round on the pooled data as the whole federation does together (`centralized(...)`).
enum Baselines {
    /// `session` trained for `rounds` rounds from `initial` under the cosine schedule; returns the
    /// final parameters. Sets the session's learning rate for every round.
    static func train(_ session: FederatedTrainingSession, from initial: [Float], rounds: Int, learningRate: Float) -> [Float] {
        var parameters = initial
        for round in stride(from: 1, through: rounds, by: 1) {
            session.learningRate = learningRate * SimulationRunner.scheduleFactor(round: round, of: rounds)
            parameters = session.trainRound(startingFrom: parameters).parameters
        }
        return parameters
    }

    /// The centralized model's batch and SGD steps per round. With a fixed batch: that batch and the whole
    /// federation's steps (`nodes * stepsPerRound`). With one-local-epoch batches (`batch` nil, the
    /// default): the classic batch of 32 and one epoch of the pooled images per round, which is what
    /// the federation's nodes train on together in a round. (Batches of `pooled / (nodes * steps)`
    /// would give the reference four times the sequential steps of any node: a different budget.)
    static func centralized(batch: Int?, nodes: Int, stepsPerRound: Int, pooledImages: Int) -> (batch: Int, steps: Int) {
        if let batch { return (batch, nodes * stepsPerRound) }
        let reference = 32
        return (reference, max(1, (pooledImages + reference - 1) / reference))
    }
}
