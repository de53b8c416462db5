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
        sections = Sections(
            added: newSections.map(\.id).filter { id in !oldSections.contains { $0.id == id } },
            removed: oldSections.map(\.id).filter { id in !newSections.contains { $0.id == id } },
            changed: newSections.filter { section in oldSections.contains { $0.id == section.id && $0.text != section.text } }.map(\.id))
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
