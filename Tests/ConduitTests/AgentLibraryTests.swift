import ConduitCore
import Foundation
import Testing

@testable import ConduitAgents

@Suite("Agents and domains as files")
struct AgentLibraryTests {
    static let deploy = URL(filePath: #filePath).deletingLastPathComponent().appending(path: "../../deploy")

    /// A folder holding `files` (name → text).
    static func folder(_ files: [String: String]) throws -> URL {
        let folder = FileManager.default.temporaryDirectory.appending(path: "conduit-agents-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(to: folder.appending(path: name), atomically: true, encoding: .utf8) }
        return folder
    }

    static let agent = """
        description: Designs the system.
        utterances: [how should the services talk to each other, which database fits]
        model: assistant
        system_prompt: You are the architect of {{project.name}} for {{audience}}.
        """

    static let base = """
        variables: {audience: everyone, platform: web}
        router: {threshold: 0.3, fallback_agent: architect}
        lifecycle:
          initial: draft
          states: [draft, built]
          transitions:
            - {from: draft, to: built, guards: ["current_specification:design"]}
        specifications:
          design: {title: Design, sections: [{id: overview, required: true}, {id: notes}]}
        """

    private func refusal(agents: [String: String] = ["architect.yaml": agent], domains: [String: String]) throws -> String {
        do {
            _ = try AgentLibrary.load(agentsFolder: try Self.folder(agents), domainsFolder: try Self.folder(domains))
            return ""
        } catch let error as ConfigurationError {
            return error.description
        }
    }

    @Test(
        "the shipped files load: 13 agents each with a distinct name and utterances, base and nine domains, fintech three levels deep, each resolved value's source named"
    )
    func shipped() throws {
        let library = try AgentLibrary.load(
            agentsFolder: Self.deploy.appending(path: "agents"), domainsFolder: Self.deploy.appending(path: "domains"))
        #expect(library.agents.count == 13)
        #expect(library.agents.values.allSatisfy { $0.utterances.count >= 20 })
        #expect(library.domains.count == 10)
        let fintech = try #require(library.domains["fintech"])
        #expect(fintech.ancestors == ["regulated", "base"])
        #expect(fintech.provenance["/title"] == "fintech")
        #expect(fintech.provenance["/router/lexical_weight"] == "base")
        #expect(fintech.provenance["/lifecycle/initial"] == "base")
        #expect(fintech.specifications["compliance"] != nil && fintech.specifications["requirements"] != nil)
        let guarded = fintech.lifecycle.transitions.first { $0.from == "planning" && $0.to == "implementation" }
        #expect(guarded?.guards.contains(.currentSpecification("compliance")) == true)
        #expect(library.domains["data-pipeline"]?.offers("ux-writer") == false)
        #expect(library.domains["base"]?.offers("ux-writer") == true)
        // Every prompt renders whole in every domain that offers its agent.
        for domain in library.domains.values {
            for agent in library.agents.values where domain.offers(agent.name) {
                let values = Dictionary(uniqueKeysWithValues: Domain.builtInVariables.map { ($0, "x") }).merging(domain.variables) { $1 }
                #expect(!agent.prompt(variables: values).contains("{{"), "\(agent.name) in \(domain.name)")
            }
        }
    }

    @Test(
        "a domain extends another: mappings merge key by key, a list replaces its parent's unless merge says append or prepend, and provenance names the domain that set each value"
    )
    func inheritance() throws {
        let child = """
            extends: base
            title: Child
            variables: {platform: mobile}
            router: {threshold: 0.5}
            lifecycle:
              transitions:
                - {from: built, to: draft, guards: [reason_given]}
            merge: {/lifecycle/transitions: append}
            """
        let grandchild = """
            extends: child
            lifecycle:
              states: [draft, review, built]
              transitions:
                - {from: draft, to: review}
            merge: {/lifecycle/transitions: prepend}
            specifications:
              design: {sections: [{id: summary, required: true}]}
            """
        let library = try AgentLibrary.load(
            agentsFolder: try Self.folder(["architect.yaml": Self.agent]),
            domainsFolder: try Self.folder(["base.yaml": Self.base, "child.yaml": child, "grandchild.yaml": grandchild]))
        let domain = try #require(library.domains["grandchild"])
        #expect(domain.ancestors == ["child", "base"])
        #expect(domain.variables == ["audience": "everyone", "platform": "mobile"])
        #expect(domain.router.threshold == 0.5 && domain.router.fallbackAgent == "architect")
        #expect(domain.lifecycle.transitions.map { "\($0.from)>\($0.to)" } == ["draft>review", "draft>built", "built>draft"])
        #expect(domain.lifecycle.states == ["draft", "review", "built"])
        #expect(domain.provenance["/variables/platform"] == "child")
        #expect(domain.provenance["/variables/audience"] == "base")
        #expect(domain.provenance["/router/threshold"] == "child")
        #expect(domain.provenance["/lifecycle/transitions/0/from"] == "grandchild")
        #expect(domain.provenance["/lifecycle/transitions/1/from"] == "base")
        #expect(domain.provenance["/lifecycle/transitions/2/from"] == "child")
        // A list of sections replaces the parent's: the design template is now one section.
        #expect(domain.specifications["design"]?.sections.map(\.id) == ["summary"])
        #expect(domain.specifications["design"]?.title == "Design")
        #expect(domain.provenance["/specifications/design/sections/0/id"] == "grandchild")
        #expect(domain.provenance["/specifications/design/title"] == "base")
        #expect(library.domains["child"]?.lifecycle.transitions.count == 2)
        // A mapping empty in the parent and filled by the child: its values are the child's, the empty one is gone.
        let filled = try AgentLibrary.load(
            agentsFolder: try Self.folder(["architect.yaml": Self.agent.replacingOccurrences(of: " for {{audience}}", with: "")]),
            domainsFolder: try Self.folder([
                "base.yaml": Self.base.replacingOccurrences(of: "variables: {audience: everyone, platform: web}", with: "variables: {}"),
                "child.yaml": "extends: base\nvariables: {audience: clinicians}\n",
            ]))
        #expect(filled.domains["base"]?.provenance["/variables"] == "base")
        #expect(filled.domains["child"]?.provenance["/variables"] == nil)
        #expect(filled.domains["child"]?.provenance["/variables/audience"] == "child")
    }

    @Test(
        "a bad file is refused naming the file and the key: cycles, unknown parents, unknown keys, guards, states, agents and prompt variables"
    )
    func refusals() throws {
        let cycle = try refusal(domains: ["base.yaml": Self.base, "a.yaml": "extends: b\n", "b.yaml": "extends: a\n"])
        #expect(cycle.contains("extends forms a cycle") && (cycle.contains("a → b → a") || cycle.contains("b → a → b")), "\(cycle)")
        let orphan = try refusal(domains: ["base.yaml": Self.base, "a.yaml": "extends: nowhere\n"])
        #expect(orphan.contains("a.yaml: extends names 'nowhere'"), "\(orphan)")
        let unknownKey = try refusal(domains: ["base.yaml": Self.base + "\nroutr: {}\n"])
        #expect(unknownKey.contains("base.yaml: 'routr' is not a key of a domain"), "\(unknownKey)")
        let badGuard = try refusal(domains: [
            "base.yaml": Self.base.replacingOccurrences(of: "current_specification:design", with: "signed_off")
        ])
        #expect(badGuard.contains("lifecycle.transitions[0].guards 'signed_off' is not a guard"), "\(badGuard)")
        let missingTemplate = try refusal(
            domains: ["base.yaml": Self.base.replacingOccurrences(of: "current_specification:design", with: "current_specification:plan")])
        #expect(missingTemplate.contains("names no template of specifications"), "\(missingTemplate)")
        let badState = try refusal(domains: ["base.yaml": Self.base.replacingOccurrences(of: "to: built", with: "to: shipped")])
        #expect(badState.contains("lifecycle.transitions[0].to 'shipped' is not one of lifecycle.states"), "\(badState)")
        let unknownAgent = try refusal(domains: ["base.yaml": Self.base + "\nagents: {nobody: {enabled: false}}\n"])
        #expect(unknownAgent.contains("agents.nobody names no agent"), "\(unknownAgent)")
        let variable = try refusal(domains: ["base.yaml": Self.base.replacingOccurrences(of: "audience: everyone, ", with: "")])
        #expect(variable.contains("variables lacks 'audience'") && variable.contains("architect"), "\(variable)")
        let emptyOverride = try refusal(domains: ["base.yaml": Self.base + "\nagents: {architect: {utterances: []}}\n"])
        #expect(emptyOverride.contains("agents.architect.utterances takes 1 to"), "\(emptyOverride)")
        let hotOverride = try refusal(domains: ["base.yaml": Self.base + "\nagents: {architect: {parameters: {temperature: 9}}}\n"])
        #expect(hotOverride.contains("agents.architect.parameters.temperature takes a number"), "\(hotOverride)")
        let misspeltRule = try refusal(domains: ["base.yaml": Self.base + "\nmerge: {/lifecycle/transition: append}\n"])
        #expect(misspeltRule.contains("merge./lifecycle/transition names no list of this file"), "\(misspeltRule)")
        let infinite = try refusal(agents: ["architect.yaml": Self.agent + "\nparameters: {presence_penalty: .inf}\n"], domains: [:])
        #expect(infinite.contains("parameters.presence_penalty is not a finite number"), "\(infinite)")
        let noUtterances = try refusal(agents: ["architect.yaml": "description: d\nmodel: m\nsystem_prompt: p\n"], domains: [:])
        #expect(noUtterances.contains("architect.yaml: utterances is required"), "\(noUtterances)")
        let badTemplate = try refusal(
            agents: ["architect.yaml": Self.agent.replacingOccurrences(of: "{{audience}}", with: "{{audience")],
            domains: ["base.yaml": Self.base])
        #expect(badTemplate.contains("system_prompt is not a template"), "\(badTemplate)")
        let badParameter = try refusal(
            agents: ["architect.yaml": Self.agent + "\nparameters: {temperature: 7}\n"], domains: ["base.yaml": Self.base])
        #expect(badParameter.contains("parameters.temperature takes a number from 0.0 to 2.0"), "\(badParameter)")
        let badName = try refusal(agents: ["Architect.yaml": Self.agent], domains: [:])
        #expect(badName.contains("Architect.yaml: the file's name is the agent's name"), "\(badName)")
    }

    @Test("an agent's content hash follows its content, not its layout")
    func contentHash() throws {
        let one = try AgentLibrary.load(
            agentsFolder: try Self.folder(["architect.yaml": Self.agent]), domainsFolder: try Self.folder(["base.yaml": Self.base]))
        let reordered = "model: assistant\n" + Self.agent.replacingOccurrences(of: "model: assistant\n", with: "") + "\n# a comment\n"
        let two = try AgentLibrary.load(
            agentsFolder: try Self.folder(["architect.yaml": reordered]), domainsFolder: try Self.folder(["base.yaml": Self.base]))
        let changed = try AgentLibrary.load(
            agentsFolder: try Self.folder(["architect.yaml": Self.agent.replacingOccurrences(of: "Designs", with: "Draws")]),
            domainsFolder: try Self.folder(["base.yaml": Self.base]))
        #expect(one.agents["architect"]?.contentHash == two.agents["architect"]?.contentHash)
        #expect(one.agents["architect"]?.contentHash != changed.agents["architect"]?.contentHash)
    }
}
