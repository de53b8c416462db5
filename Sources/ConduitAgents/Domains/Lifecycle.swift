/// The states a domain's projects move through and the moves it allows, each with the guards that must
/// hold for it: `discovery → specification → … → done` in the base domain, forward only.
package struct Lifecycle: Sendable, Equatable {
    package struct Transition: Sendable, Equatable {
        package let from: String
        package let to: String
        package let guards: [Guard]
    }

    package let initial: String
    package let states: [String]
    package let transitions: [Transition]

    /// The moves out of `state`.
    package func transitions(from state: String) -> [Transition] { transitions.filter { $0.from == state } }
}

/// A condition a transition needs, named in a domain's file.
package enum Guard: Sendable, Equatable, CustomStringConvertible {
    /// `current_specification:KEY`: the project has a current (promoted) version of the specification `KEY`,
    /// with every section its template requires.
    case currentSpecification(String)
    /// `reason_given`: the request says why.
    case reasonGiven

    init?(_ text: String) {
        if text == "reason_given" {
            self = .reasonGiven
        } else if text.hasPrefix("current_specification:"), case let key = String(text.dropFirst("current_specification:".count)),
            DeclaredName.isValid(key)
        {
            self = .currentSpecification(key)
        } else {
            return nil
        }
    }

    package var description: String {
        switch self {
        case .currentSpecification(let key): "current_specification:\(key)"
        case .reasonGiven: "reason_given"
        }
    }
}

/// A specification a domain's projects write, and the sections a version must have to be promoted.
package struct SpecificationTemplate: Sendable, Equatable {
    package struct Section: Sendable, Equatable {
        package let id: String
        package let required: Bool
    }

    package let key: String
    package let title: String
    package let sections: [Section]

    package var requiredSections: [String] { sections.filter(\.required).map(\.id) }
}
