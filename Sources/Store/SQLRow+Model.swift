import SQLKit

extension SQLRow {
    /// The row as a `Decodable` whose properties are its columns in camelCase (`team_id` → `teamID`),
    /// each optional property a nullable column; `prefix` when the columns carry one (a joined table's).
    func decode<Model: Decodable>(_ model: Model.Type, prefix: String? = nil) throws -> Model {
        try decode(model: model, prefix: prefix, keyDecodingStrategy: .custom { path in SnakeCaseColumn(path.last!.stringValue) })
    }
}

/// A property's column: its name in snake_case, an acronym one word (`teamID` → `team_id`, which
/// SQLKit's own conversion makes `team_iD`).
private struct SnakeCaseColumn: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }

    init(_ property: String) {
        var column = ""
        let characters = Array(property)
        for (index, character) in characters.enumerated() {
            if character.isUppercase, index > 0 {
                let previous = characters[index - 1]
                let startsWord = index + 1 < characters.count && characters[index + 1].isLowercase
                if previous.isLowercase || previous.isNumber || (previous.isUppercase && startsWord) { column.append("_") }
            }
            column.append(contentsOf: character.lowercased())
        }
        stringValue = column
    }

    init?(stringValue: String) { self.init(stringValue) }
    init?(intValue: Int) { nil }
}
