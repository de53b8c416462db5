/// The sections of a specification written in Markdown: each heading (`#` to `######`) opens one, named by
/// its words in lowercase joined with `_` ("## Non-functional requirements" is `non_functional_requirements`),
/// which is how a template's section ids are matched.
enum MarkdownSections {
    static func ids(in body: String) -> [String] {
        var ids: [String] = []
        var seen: Set<String> = []
        var fenced = false
        for line in body.split(separator: "\n", omittingEmptySubsequences: false) {
            let trimmed = line.drop { $0 == " " }
            // Headings inside a fenced code block are code.
            if trimmed.hasPrefix("```") || trimmed.hasPrefix("~~~") {
                fenced.toggle()
                continue
            }
            guard !fenced, trimmed.hasPrefix("#") else { continue }
            let level = trimmed.prefix { $0 == "#" }.count
            let title = trimmed.dropFirst(level)
            guard level <= 6, title.first == " " else { continue }
            let id = slug(title)
            if !id.isEmpty, seen.insert(id).inserted { ids.append(id) }
        }
        return ids
    }

    static func slug(_ title: some StringProtocol) -> String {
        title.lowercased().split { !$0.isLetter && !$0.isNumber }.joined(separator: "_")
    }
}
