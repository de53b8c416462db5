import Testing

/// The tests that run the server as its users do (a child process killed with -9, the command line,
/// files changed under a running server, connections held open past real timeouts or hung up while
/// the model is busy, spans sent to a collector). They depend on real time, so `scripts/test` runs
/// them one at a time (`swift test --filter EndToEnd --no-parallel`) after the others have run in parallel.
@Suite(.serialized)
enum EndToEnd {}
