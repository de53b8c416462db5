import ArgumentParser
import Conduit

struct EventsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events", abstract: "The event catalogue.", subcommands: [Types.self])

    struct Types: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print every event type as Markdown: who may read it, what it says, an example payload.",
            discussion: "docs/events.md is this document (conduit events types > docs/events.md)."
        )

        func run() {
            print(EventCatalogue.text, terminator: "")
        }
    }
}
