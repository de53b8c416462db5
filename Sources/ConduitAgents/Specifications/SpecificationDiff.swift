/// What changed between two versions of a specification: the sections added, removed and changed, and the
/// lines removed (`-`) and added (`+`) in order, as a reviewer reads them.
struct SpecificationDiff: Encodable, Sendable {
    struct Sections: Encodable, Sendable {
        var added: [String]
        var removed: [String]
        var changed: [String]
    }

    var from: Int64
    var to: Int64
    var sections: Sections
    var lines: [String]

    init(from: Int64, old: String, to: Int64, new: String) {
        self.from = from
        self.to = to
        let (oldSections, newSections) = (Self.sectionTexts(old), Self.sectionTexts(new))
        let (oldTexts, newTexts) = (Self.texts(oldSections), Self.texts(newSections))
        sections = Sections(
            added: newSections.map(\.id).filter { oldTexts[$0] == nil },
            removed: oldSections.map(\.id).filter { newTexts[$0] == nil },
            changed: newSections.map(\.id).filter { id in oldTexts[id].map { $0 != newTexts[id] } ?? false })
        let (oldLines, newLines) = (
            old.split(separator: "\n", omittingEmptySubsequences: false), new.split(separator: "\n", omittingEmptySubsequences: false)
        )
        var removed: Set<Int> = []
        var inserted: Set<Int> = []
        for change in newLines.difference(from: oldLines) {
            switch change {
            case .remove(let offset, _, _): removed.insert(offset)
            case .insert(let offset, _, _): inserted.insert(offset)
            }
        }
        // Walked side by side, so that each removal comes before what replaced it.
        var lines: [String] = []
        var (old, new) = (0, 0)
        while old < oldLines.count || new < newLines.count {
            if old < oldLines.count, removed.contains(old) {
                lines.append("-" + oldLines[old])
                old += 1
            } else if new < newLines.count, inserted.contains(new) {
                lines.append("+" + newLines[new])
                new += 1
            } else {
                old += 1
                new += 1
            }
        }
        self.lines = lines
    }

    /// Most lines of a version that a diff compares: the line diff takes memory in the square of the lines that differ.
    static let maximumLines = 2_000

    private static func texts(_ sections: [(id: String, text: String)]) -> [String: String] {
        Dictionary(sections.map { ($0.id, $0.text) }) { first, _ in first }
    }

    /// Each section's id and its text up to the next heading.
    private static func sectionTexts(_ body: String) -> [(id: String, text: String)] {
        var sections: [(id: String, text: String)] = []
        for line in body.split(separator: "\n", omittingEmptySubsequences: false) {
            let id = MarkdownSections.ids(in: String(line)).first
            if let id {
                sections.append((id, ""))
            } else if !sections.isEmpty {
                sections[sections.count - 1].text += line + "\n"
            }
        }
        return sections
    }
}
