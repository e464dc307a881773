import LeukTraining

/// The reference models a federation is judged against, trained the one way both `simulate` and
/// `demo` train them, so the two commands' "local-only" and "centralized" rows mean the same thing.
///
/// A baseline trains `rounds` rounds of its session's `stepsPerRound` steps from the federation's
/// initial parameters, with the learning rate annealed by `SimulationRunner.scheduleFactor` (the
/// cosine the federated nodes of a simulation follow). The centralized model takes
/// `nodes * stepsPerRound` steps per round on the pooled data: it sees as many batches as the whole
/// federation does together.
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

    /// SGD steps per round of the centralized model: the whole federation's steps.
    static func centralizedSteps(nodes: Int, stepsPerRound: Int) -> Int { nodes * stepsPerRound }
}
