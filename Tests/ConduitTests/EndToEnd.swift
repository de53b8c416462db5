import Testing

/// The tests that run the server as its users do (a child process killed with -9, the command line,
/// files changed under a running server, connections held open past real timeouts, spans sent to a
/// collector): they measure real time, so `scripts/test` runs them one at a time, after the others
/// have run in parallel (`swift test --filter EndToEnd --no-parallel`).
@Suite(.serialized)
enum EndToEnd {}
