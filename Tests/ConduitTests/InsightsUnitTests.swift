import Foundation
import NIOCore
import Testing
import VectorClassifiers

@testable import Conduit
@testable import ConduitChat
@testable import ConduitCore
@testable import ConduitInsights

/// The pure pieces of the insights pipeline: the prefilter, the language guess, the conversation's text,
/// pipeline files, the LLM answer's validation and the local analyzer's arithmetic.
@Suite("Insights pipeline pieces")
struct InsightsUnitTests {
    // MARK: - Prefilter

    private let prefilter = PipelineDefinition.Prefilter()

    @Test("a text shorter than min_characters is skipped as too_short")
    func prefilterTooShort() {
        #expect(prefilter.verdict(on: "Hi, help?") == .skip(reason: "too_short", detail: "9 characters, fewer than 20"))
    }

    @Test("a text longer than max_characters is skipped as too_long")
    func prefilterTooLong() {
        var prefilter = self.prefilter
        prefilter.maxCharacters = 50
        let text = String(repeating: "My parcel is late. ", count: 3)  // 57 characters
        #expect(prefilter.verdict(on: text) == .skip(reason: "too_long", detail: "57 characters, more than 50"))
        #expect(prefilter.verdict(on: String(text.prefix(50))) == .pass)
    }

    @Test("more links than max_urls is skipped as too_many_urls")
    func prefilterTooManyURLs() {
        let links = (1...6).map { "https://shop.example/item/\($0)" }.joined(separator: " ")
        #expect(prefilter.verdict(on: "Look at these: \(links)") == .skip(reason: "too_many_urls", detail: "6 links, more than 5"))
        let five = (1...5).map { "https://shop.example/item/\($0)" }.joined(separator: " ")
        #expect(prefilter.verdict(on: "Look at these: \(five)") == .pass)
    }

    @Test("a spam phrase, in any case, is skipped as spam")
    func prefilterSpamPhrase() {
        #expect(
            prefilter.verdict(on: "Great deal on watches, Click HERE to claim yours")
                == .skip(reason: "spam", detail: "contains 'click here'"))
    }

    @Test("a long text mostly in capitals is skipped as spam; a short one is not")
    func prefilterSpamCapitals() {
        #expect(
            prefilter.verdict(on: "WHY IS MY ORDER STILL NOT HERE AFTER THREE WEEKS OF WAITING")
                == .skip(reason: "spam", detail: "48 of 48 letters are capitals"))
        // Fewer than 40 letters: shouting is not judged.
        #expect(prefilter.verdict(on: "WHERE IS MY REFUND, PLEASE") == .pass)
    }

    @Test("a text repeating itself is skipped as spam")
    func prefilterSpamRepetition() {
        #expect(
            prefilter.verdict(on: String(repeating: "refund ", count: 25))
                == .skip(reason: "spam", detail: "1 distinct words in 25"))
    }

    @Test("with languages [en], Spanish and French texts are skipped as language")
    func prefilterLanguage() {
        var prefilter = self.prefilter
        prefilter.languages = ["en"]
        #expect(
            prefilter.verdict(on: "Hola, mi pedido no ha llegado y necesito que me devuelvan el dinero por favor")
                == .skip(reason: "language", detail: "written in 'es', not in en"))
        #expect(
            prefilter.verdict(on: "Bonjour, je n'ai pas reçu ma commande et je voudrais un remboursement pour mon abonnement")
                == .skip(reason: "language", detail: "written in 'fr', not in en"))
    }

    @Test("ordinary English support text passes, with or without languages")
    func prefilterPassesEnglish() {
        let text = "Hello, I was charged twice for my subscription this month and I would like a refund for the extra charge."
        #expect(prefilter.verdict(on: text) == .pass)
        var english = prefilter
        english.languages = ["en"]
        #expect(english.verdict(on: text) == .pass)
    }

    @Test("a text whose language cannot be told passes even with languages set")
    func prefilterUnknownLanguagePasses() {
        let text = "Order 55512 ref ZX-99 status pending"
        #expect(LanguageGuess.language(of: text) == nil)
        var prefilter = self.prefilter
        prefilter.languages = ["en"]
        #expect(prefilter.verdict(on: text) == .pass)
    }

    // MARK: - LanguageGuess

    @Test(
        "the language of a sentence",
        arguments: [
            ("Thank you, the package arrived and it is exactly what I ordered.", "en"),
            ("El paquete llegó tarde y la caja estaba rota, pero el producto funciona.", "es"),
            ("Je ne trouve pas la facture de mon abonnement dans mon compte.", "fr"),
            ("Ich habe das Paket nicht bekommen und der Support antwortet mir nicht.", "de"),
            ("注文した商品がまだ届いていません。", "ja"),
            ("我的订单还没有到，请帮我查一下。", "zh"),
            ("Мой заказ до сих пор не пришёл, помогите пожалуйста.", "ru"),
        ])
    func languageOfSentence(text: String, language: String) {
        #expect(LanguageGuess.language(of: text) == language)
    }

    @Test("too few words to tell gives nil")
    func languageUnknown() {
        #expect(LanguageGuess.language(of: "ok 123") == nil)
        #expect(LanguageGuess.language(of: "") == nil)
    }

    // MARK: - ConversationText

    private func conversation(_ messages: [(String, String)], roles: [String] = []) -> ConversationText {
        ConversationText(messages.map { ConversationText.Message(role: $0.0, content: $0.1) }, roles: roles)
    }

    @Test("contentHash ignores case and whitespace, not the pipeline, its version or the roles")
    func contentHash() {
        let text = conversation([("user", "My  Order\tis LATE\n"), ("assistant", "Sorry to hear that.")])
        let same = conversation([("user", "my order is late"), ("assistant", "  SORRY to   hear that.")])
        let hash = text.contentHash(pipeline: "support", version: 1)
        #expect(hash.count == 64 && hash.allSatisfy(\.isHexDigit))
        #expect(same.contentHash(pipeline: "support", version: 1) == hash)
        #expect(text.contentHash(pipeline: "support", version: 2) != hash)
        #expect(text.contentHash(pipeline: "default", version: 1) != hash)
        let otherRole = conversation([("agent", "my order is late"), ("assistant", "sorry to hear that.")])
        #expect(otherRole.contentHash(pipeline: "support", version: 1) != hash)
        let otherText = conversation([("user", "my order is early"), ("assistant", "sorry to hear that.")])
        #expect(otherText.contentHash(pipeline: "support", version: 1) != hash)
    }

    @Test("sentences split on . ! ? and newlines, drop pieces without letters, and keep to the limit")
    func sentences() {
        let text = conversation([
            ("user", "Hello there. Is it broken? Yes!\nSecond line\n3. ... !?"),
            ("assistant", "Last one"),
        ])
        #expect(text.sentences(limit: 10) == ["Hello there.", "Is it broken?", "Yes!", "Second line", "Last one"])
        #expect(text.sentences(limit: 2) == ["Hello there.", "Is it broken?"])
        #expect(conversation([("user", "42. 7! ?")]).sentences(limit: 10).isEmpty)
    }

    @Test(
        "a text without punctuation is cut into sentences of at most 400 characters, at spaces; a 'word' over 30 letters is no key phrase")
    func longText() {
        let words = (0..<300).map { "word\($0)" }.joined(separator: " ")
        let pieces = conversation([("user", words)]).sentences(limit: 100)
        #expect(pieces.count > 4 && pieces.allSatisfy { $0.count <= ConversationText.maxSentenceCharacters && !$0.hasSuffix(" ") })
        #expect(pieces.joined(separator: " ") == words, "nothing lost, cut only at spaces")
        let noise = String(repeating: "z", count: 500)
        #expect(conversation([("user", noise)]).sentences(limit: 10).map(\.count) == [400, 100])
        #expect(conversation([("user", "refund \(noise) delivery")]).phraseCandidates(limit: 10) == ["refund", "delivery"])
    }

    @Test("phrase candidates end at stop words and punctuation and keep at most three words")
    func phraseCandidates() {
        let text = conversation([("user", "The payment page shows an error, and the invoice download button fails. Error code: timeout")])
        #expect(text.phraseCandidates(limit: 10) == ["payment page shows", "error", "download button fails", "error code", "timeout"])
        #expect(text.phraseCandidates(limit: 10).allSatisfy { $0.split(separator: " ").count <= 3 })
    }

    @Test("phrase candidates appear once and respect the limit")
    func phraseCandidatesUniqueAndLimited() {
        let repeated = conversation([("user", "Refund delayed. Refund delayed again!"), ("assistant", "Refund delayed, sorry.")])
        #expect(repeated.phraseCandidates(limit: 10) == ["refund delayed", "sorry"])
        let many = conversation([("user", "Alpha beta. Gamma delta. Epsilon zeta.")])
        #expect(many.phraseCandidates(limit: 2) == ["alpha beta", "gamma delta"])
        #expect(many.phraseCandidates(limit: 3) == ["alpha beta", "gamma delta", "epsilon zeta"])
    }

    @Test("init keeps only the given roles, all when none are given")
    func rolesFilter() {
        let messages = [("system", "Be kind."), ("user", "My card was declined."), ("assistant", "Let me check."), ("user", "Thanks.")]
        #expect(conversation(messages, roles: ["user"]).messages.map(\.content) == ["My card was declined.", "Thanks."])
        #expect(conversation(messages, roles: ["user", "assistant"]).messages.map(\.role) == ["user", "assistant", "user"])
        #expect(conversation(messages).messages.count == 4)
        #expect(conversation(messages, roles: ["user"]).transcript == "user: My card was declined.\nuser: Thanks.")
    }

    @Test("urlCount counts http, https and www. addresses only")
    func urlCount() {
        #expect(ConversationText.urlCount("see https://a.example/x and HTTP://b.example, www.c.example ftp://d.example e.example") == 3)
        #expect(ConversationText.urlCount("no links here") == 0)
    }

    // MARK: - PipelineLibrary

    private static let file = "/pipelines/support.yaml"
    private static let labels = """
        sentiment:
          happy: The customer is glad.
          upset: The customer is angry.

        """

    @Test("a pipeline file with every key parses to its values")
    func parseFullPipeline() throws {
        let yaml = """
            version: 3
            analyzer: llm:some-model
            roles: [user]
            sentiment_roles: [customer]
            sentiment:
              happy:
                description: The customer is glad.
                examples: ["thanks, that worked", "brilliant service"]
              upset: The customer is angry.
            topics:
              refunds: Money paid back.
              delivery: Parcels and couriers.
            min_confidence: 0.7
            llm_fallback: big-model
            topic_threshold: 0.4
            max_topics: 2
            key_phrases: 4
            summary_sentences: 1
            confidence_temperature: 0.1
            prefilter:
              min_characters: 10
              max_characters: 5000
              languages: [en, de]
              max_urls: 2
              spam_phrases: ["Free Money", "win big"]
              max_uppercase_ratio: 0.5
              min_distinct_word_ratio: 0.3
            cache:
              exact: false
              semantic_threshold:
              semantic_window: 50
            llm:
              prompt: Describe the chat.
              max_attempts: 2
              max_tokens: 300
              temperature: 0.2
            """
        var expected = PipelineDefinition(
            name: "support", sentiment: ["happy": "The customer is glad.", "upset": "The customer is angry."],
            topics: ["refunds": "Money paid back.", "delivery": "Parcels and couriers."])
        expected.version = 3
        expected.analyzer = .llm(model: "some-model")
        expected.roles = ["user"]
        expected.sentimentRoles = ["customer"]
        expected.examples = ["thanks, that worked", "brilliant service"].map {
            LabelledConversation(messages: [.init(role: "user", content: $0)], sentiment: "happy")
        }
        expected.minConfidence = 0.7
        expected.llmFallback = "big-model"
        expected.topicThreshold = 0.4
        expected.maxTopics = 2
        expected.keyPhrases = 4
        expected.summarySentences = 1
        expected.confidenceTemperature = 0.1
        expected.prefilter.minCharacters = 10
        expected.prefilter.maxCharacters = 5000
        expected.prefilter.languages = ["en", "de"]
        expected.prefilter.maxURLs = 2
        expected.prefilter.spamPhrases = ["free money", "win big"]
        expected.prefilter.maxUppercaseRatio = 0.5
        expected.prefilter.minDistinctWordRatio = 0.3
        expected.cache.exact = false
        expected.cache.semanticThreshold = nil
        expected.cache.semanticWindow = 50
        expected.llm.prompt = "Describe the chat."
        expected.llm.maxAttempts = 2
        expected.llm.maxTokens = 300
        expected.llm.temperature = 0.2
        let pipeline = try PipelineLibrary.parse(yaml, name: "support", file: Self.file)
        #expect(pipeline == expected)
    }

    @Test("only the labels are needed; every other key keeps its default")
    func parseMinimalPipeline() throws {
        let pipeline = try PipelineLibrary.parse(Self.labels, name: "support", file: Self.file)
        #expect(pipeline == PipelineDefinition(name: "support", sentiment: pipeline.sentiment, topics: [:]))
        #expect(pipeline.sentiment == ["happy": "The customer is glad.", "upset": "The customer is angry."])
        #expect(pipeline.cache.semanticThreshold == 0.97)
    }

    @Test(
        "a bad pipeline file is refused, naming the file and the key",
        arguments: [
            (labels + "colour: red\n", "'colour' is not a key of a pipeline"),
            (labels + "cache:\n  exactly: true\n", "'cache.exactly' is not a key of a pipeline"),
            (labels + "max_topics: 21\n", "max_topics takes an integer from 0 to 20"),
            (labels + "cache:\n  semantic_threshold: 1.5\n", "cache.semantic_threshold takes a number from 0.0 to 1.0"),
            (labels + "key_phrases: many\n", "key_phrases takes an integer"),
            (labels + "roles: user\n", "roles takes a list"),
            (labels + "cache:\n  exact: maybe\n", "cache.exact takes true or false"),
            (labels + "prefilter: 5\n", "prefilter is a section"),
            (labels + "analyzer: gpt\n", "analyzer takes local or llm:MODEL"),
            ("sentiment:\n  happy: The customer is glad.\n", "sentiment needs at least two labels"),
            (labels + "topics:\n  happy: Glad.\n", "topics 'happy' is also a sentiment label"),
            ("sentiment:\n  Happy: Glad.\n  upset: Angry.\n", "sentiment label 'Happy' must be 1 to 64 lowercase letters"),
            (labels + "prefilter:\n  min_characters: 500\n  max_characters: 100\n", "prefilter.min_characters must be below"),
            ("sentiment:\n  happy:\n    examples: [yay]\n  upset: Angry.\n", "sentiment.happy needs a description"),
            (
                "sentiment:\n  happy:\n    description: Glad.\n    example: [yay]\n  upset: Angry.\n",
                "'sentiment.happy.example' is not a key"
            ),
            (labels + "min_confidence: 2\n", "min_confidence takes a number from 0.0 to 1.0"),
            (labels + "examples_file: no-such-file.jsonl\n", "examples_file cannot read"),
            ("sentiment:\n  uncertain: Unsure.\n  upset: Angry.\n", "label 'uncertain' marks insights below min_confidence"),
            ("sentiment: [unclosed\n", "is not valid YAML"),
        ])
    func parseRefused(yaml: String, says: String) {
        let error = #expect(throws: ConfigurationError.self) {
            try PipelineLibrary.parse(yaml, name: "support", file: Self.file)
        }
        #expect(error?.description.hasPrefix(Self.file) == true, "\(error?.description ?? "")")
        #expect(error?.description.contains(says) == true, "\(error?.description ?? "")")
    }

    @Test("load(from:) reads every YAML file as a pipeline named after it, beside the built-in default")
    func loadFolder() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "insights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try (Self.labels + "version: 2\n").write(to: folder.appending(path: "support.yaml"), atomically: true, encoding: .utf8)
        try "not: [a pipeline".write(to: folder.appending(path: "notes.txt"), atomically: true, encoding: .utf8)

        var library = try PipelineLibrary.load(from: folder)
        #expect(Set(library.pipelines.keys) == ["default", "support"])
        #expect(library["default"] == .builtIn)
        #expect(library["support"]?.name == "support")
        #expect(library["support"]?.version == 2)
        #expect(library["support"]?.sentiment.keys.sorted() == ["happy", "upset"])

        try (Self.labels + "max_topics: 1\n").write(to: folder.appending(path: "default.yaml"), atomically: true, encoding: .utf8)
        library = try PipelineLibrary.load(from: folder)
        #expect(Set(library.pipelines.keys) == ["default", "support"])
        #expect(library["default"] != .builtIn)
        #expect(library["default"]?.name == "default")
        #expect(library["default"]?.maxTopics == 1)
        #expect(library["default"]?.sentiment.keys.sorted() == ["happy", "upset"])
    }

    @Test("examples_file reads labelled conversations beside the pipeline's file; a label the pipeline lacks is refused with its line")
    func examplesFile() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "insights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let lines = """
            {"id": "a", "messages": [{"role": "user", "content": "Thanks!"}], "sentiment": "happy"}

            {"messages": [{"role": "user", "content": "Where is it?"}, {"role": "assistant", "content": "On its way."}], "topic": "delivery", "tags": ["short"]}
            """
        try lines.write(to: folder.appending(path: "mine.jsonl"), atomically: true, encoding: .utf8)
        let yaml = Self.labels + "topics:\n  delivery: Parcels.\nexamples_file: mine.jsonl\n"
        try yaml.write(to: folder.appending(path: "support.yaml"), atomically: true, encoding: .utf8)
        let pipeline = try #require(try PipelineLibrary.load(from: folder)["support"])
        #expect(
            pipeline.examples == [
                LabelledConversation(id: "a", messages: [.init(role: "user", content: "Thanks!")], sentiment: "happy"),
                LabelledConversation(
                    id: "line 3",
                    messages: [.init(role: "user", content: "Where is it?"), .init(role: "assistant", content: "On its way.")],
                    topic: "delivery"),
            ])

        try (lines + "\n{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}], \"topic\": \"refunds\"}")
            .write(to: folder.appending(path: "mine.jsonl"), atomically: true, encoding: .utf8)
        let unknown = #expect(throws: ConfigurationError.self) { try PipelineLibrary.load(from: folder) }
        #expect(
            unknown?.description.contains("mine.jsonl line 4: topic 'refunds' is not one of the pipeline's") == true,
            "\(unknown?.description ?? "")")

        let windows = lines.replacingOccurrences(of: "\n", with: "\r\n")
        #expect(try LabelledConversation.parseLines(windows, source: "f").map(\.id) == ["a", "line 3"], "CRLF line ends")

        try "\n".write(to: folder.appending(path: "mine.jsonl"), atomically: true, encoding: .utf8)
        let none = #expect(throws: ConfigurationError.self) { try PipelineLibrary.load(from: folder) }
        #expect(none?.description.contains("has no conversation") == true, "\(none?.description ?? "")")

        try "{\"messages\": []}".write(to: folder.appending(path: "mine.jsonl"), atomically: true, encoding: .utf8)
        let empty = #expect(throws: ConfigurationError.self) { try PipelineLibrary.load(from: folder) }
        #expect(empty?.description.contains("line 1: \"messages\" must be a non-empty list") == true, "\(empty?.description ?? "")")
    }

    @Test("the built-in examples read, label every support label many times, and examples_file: built-in keeps those the pipeline has")
    func builtInExamples() throws {
        let examples = BuiltInExamples.support
        #expect(examples.count >= 200)
        for label in PipelineDefinition.supportSentiment.keys { #expect(examples.count { $0.sentiment == label } >= 60, "\(label)") }
        for label in PipelineDefinition.supportTopics.keys { #expect(examples.count { $0.topic == label } >= 30, "\(label)") }
        #expect(PipelineDefinition.builtIn.examples == examples)

        let pipeline = try PipelineLibrary.parse(
            Self.labels.replacingOccurrences(of: "happy", with: "positive") + "topics:\n  billing: Money.\nexamples_file: built-in\n",
            name: "support", file: Self.file)
        #expect(pipeline.examples.count == examples.count)
        #expect(Set(pipeline.examples.compactMap(\.sentiment)) == ["positive"])
        #expect(Set(pipeline.examples.compactMap(\.topic)) == ["billing"])
    }

    @Test("the support pipeline shipped in deploy/pipelines parses, learns from the built-in examples and has the built-in's labels")
    func shippedSupportPipeline() throws {
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appending(path: "../../deploy/pipelines/support.yaml")
            .standardized
        let pipeline = try PipelineLibrary.parse(try String(contentsOf: file, encoding: .utf8), name: "support", file: file.path)
        #expect(pipeline.sentiment.keys.sorted() == PipelineDefinition.builtIn.sentiment.keys.sorted())
        #expect(pipeline.topics.keys.sorted() == PipelineDefinition.builtIn.topics.keys.sorted())
        #expect(pipeline.examples == BuiltInExamples.support)
        #expect(pipeline.sentimentRoles == ["user"])
    }

    @Test("load(from:) refuses a file whose name cannot name a pipeline")
    func loadBadFileName() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "insights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.labels.write(to: folder.appending(path: "Bad Name.yaml"), atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigurationError.self) { try PipelineLibrary.load(from: folder) }
        #expect(error?.description.contains("Bad Name.yaml") == true, "\(error?.description ?? "")")
        #expect(error?.description.contains("file name") == true, "\(error?.description ?? "")")
    }

    @Test("load(from:) passes over hidden files (an editor's lock file) and refuses two files for one pipeline")
    func loadHiddenAndTwice() throws {
        let folder = FileManager.default.temporaryDirectory.appending(path: "insights-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        try Self.labels.write(to: folder.appending(path: "support.yaml"), atomically: true, encoding: .utf8)
        try "{ broken".write(to: folder.appending(path: ".#support.yaml"), atomically: true, encoding: .utf8)
        #expect(Set(try PipelineLibrary.load(from: folder).pipelines.keys) == ["default", "support"])
        try Self.labels.write(to: folder.appending(path: "support.yml"), atomically: true, encoding: .utf8)
        let error = #expect(throws: ConfigurationError.self) { try PipelineLibrary.load(from: folder) }
        #expect(error?.description.contains("already declares the pipeline 'support'") == true, "\(error?.description ?? "")")
    }

    // MARK: - LLMAnalyzer

    private static let answer = """
        {"sentiment": "negative", "topics": ["shipping", "billing", "shipping"], "key_phrases": ["charged twice", "late parcel"],
         "summary": "The customer was charged twice.", "confidence": 0.8}
        """

    private static let expectedAnalysis = Analysis(
        sentiment: .init(label: "negative", score: 0.8),
        // In the model's order (the first is the main topic), each once.
        topics: [.init(label: "shipping", score: 0.8), .init(label: "billing", score: 0.8)],
        keyPhrases: ["charged twice", "late parcel"], summary: "The customer was charged twice.", confidence: 0.8, analyzer: "",
        usage: .init(promptTokens: 0, completionTokens: 0), costUSD: nil)

    @Test("a valid answer gives its analysis")
    func validAnswer() throws {
        #expect(try LLMAnalyzer.validated(Self.answer, pipeline: .builtIn) == Self.expectedAnalysis)
    }

    @Test("an answer fenced in ```json is accepted")
    func fencedAnswer() throws {
        let fenced = "```json\n\(Self.answer)\n```\n"
        #expect(try LLMAnalyzer.validated(fenced, pipeline: .builtIn) == Self.expectedAnalysis)
    }

    @Test("a confidence of exactly 0 or 1 (the range's ends) is valid", arguments: ["0", "1", "0.0", "1.0"])
    func boundaryConfidence(confidence: String) throws {
        let answer = #"{"sentiment": "neutral", "topics": [], "key_phrases": [], "summary": "", "confidence": \#(confidence)}"#
        #expect(try LLMAnalyzer.validated(answer, pipeline: .builtIn).confidence == Double(confidence))
    }

    @Test(
        "an invalid answer is refused with a reason naming the field",
        arguments: [
            (#"{"sentiment": "furious", "topics": [], "key_phrases": [], "summary": "s", "confidence": 0.5}"#, #""sentiment""#),
            (#"{"sentiment": "negative", "topics": ["weather"], "key_phrases": [], "summary": "s", "confidence": 0.5}"#, #""topics""#),
            (
                #"{"sentiment": "negative", "topics": ["billing", "shipping", "cancellation", "technical_issue"], "key_phrases": [], "summary": "s", "confidence": 0.5}"#,
                #""topics""#
            ),
            (
                #"{"sentiment": "negative", "topics": [], "key_phrases": ["a", "b", "c", "d", "e", "f"], "summary": "s", "confidence": 0.5}"#,
                #""key_phrases""#
            ),
            (#"{"sentiment": "negative", "topics": [], "key_phrases": [], "confidence": 0.5}"#, #""summary""#),
            (#"{"sentiment": "negative", "topics": [], "key_phrases": [], "summary": "s", "confidence": 1.5}"#, #""confidence""#),
            (#"{"sentiment": "negative", "topics": [], "key_phrases": [], "summary": "s", "confidence": -0.1}"#, #""confidence""#),
            (#"{"sentiment": "negative", "topics": [], "key_phrases": [], "summary": "s", "confidence": true}"#, #""confidence""#),
            (#"["negative"]"#, "not a JSON object"),
            ("The customer is upset.", "not a JSON object"),
        ])
    func invalidAnswer(content: String, field: String) {
        let error = #expect(throws: InvalidAnalysis.self) { try LLMAnalyzer.validated(content, pipeline: .builtIn) }
        #expect(error?.reason.contains(field) == true, "\(error?.reason ?? "")")
    }

    @Test("an upstream's answer is read for its first choice; token counts that are missing, odd or absurd count as 0 or are capped")
    func upstreamAnswer() throws {
        func read(_ json: String) throws -> ChatCompletionAnswer {
            try #require(ChatCompletionAnswer(reading: ByteBuffer(string: json)))
        }
        let answer = try read(#"{"choices":[{"message":{"content":"ok"}}],"usage":{"prompt_tokens":-3,"completion_tokens":20000000}}"#)
        #expect(answer.content == "ok")
        #expect(answer.usage?.promptTokens == 0 && answer.usage?.completionTokens == 10_000_000)
        #expect(
            try read(#"{"choices":[{"message":{"content":"ok"}}],"usage":{"prompt_tokens":1.5,"completion_tokens":"7"}}"#).usage?.total == 0
        )
        #expect(try read(#"{"choices":[{"message":{"content":"ok"}}],"usage":"n/a"}"#).usage == nil)
        #expect(try read(#"{"choices":[]}"#).content == nil)
        for notACompletion in [#"{"choices":{}}"#, #"{"object":"error"}"#, #"[{"choices":[]}]"#, #"{"choices":[],}"#] {
            #expect(ChatCompletionAnswer(reading: ByteBuffer(string: notACompletion)) == nil, "\(notACompletion)")
        }
    }

    @Test("the schema lists the pipeline's labels as enums and its limits")
    func schema() {
        let schema = LLMAnalyzer.schema(for: .builtIn).objectValue
        let properties = schema?["properties"]?.objectValue
        let topics = properties?["topics"]?.objectValue
        #expect(properties?["sentiment"]?.objectValue?["enum"] == ["negative", "neutral", "positive"])
        #expect(
            topics?["items"]?.objectValue?["enum"]
                == ["account_access", "billing", "cancellation", "product_feedback", "shipping", "technical_issue"])
        #expect(topics?["maxItems"] == 3)
        #expect(properties?["key_phrases"]?.objectValue?["maxItems"] == 5)
        #expect(schema?["required"] == ["sentiment", "topics", "key_phrases", "summary", "confidence"])
        #expect(schema?["additionalProperties"] == false)
    }

    // MARK: - LocalAnalyzer

    @Test("softmax sums to 1, keeps the order, and a lower temperature is more decisive")
    func softmaxOrder() {
        let scores: [Float] = [0.2, 0.3, 0.1]
        let sharp = softmax(scores.map { $0 / 0.05 })
        let soft = softmax(scores)
        #expect(abs(sharp.reduce(0, +) - 1) < 1e-5)
        #expect(abs(soft.reduce(0, +) - 1) < 1e-5)
        #expect(sharp[1] > sharp[0] && sharp[0] > sharp[2])
        #expect(soft[1] > soft[0] && soft[0] > soft[2])
        #expect(sharp[1] > 0.8 && soft[1] < 0.4)
        #expect(softmax([10, 10]) == [0.5, 0.5])
        #expect(softmax([1000, 0]) == [1, 0])
    }

    @Test("the sentiment's vector is the customer's words alone, their last message counting half again; nobody's words, the whole")
    func sentimentVector() {
        func conversation(agent: [Float]) -> EmbeddedConversation {
            EmbeddedConversation(
                sentences: ["a", "b", "c", "d"], roles: ["user", "assistant", "user", "user"], messages: [0, 1, 2, 2],
                sentenceVectors: [[1, 0, 0], agent, [0, 1, 0], [0, 1, 0]], vector: [0, 0, 1], tokens: 4, model: "m", unknownShare: 0)
        }
        let angryAgent = conversation(agent: [0, 0, 1]).vector(of: ["user"])
        let cheerfulAgent = conversation(agent: [0, 0, -1]).vector(of: ["user"])
        #expect(angryAgent == cheerfulAgent, "the agent's words do not count")
        // Mean of the customer's sentences: (1, 2, 0)/√5; of their last message: (0, 1, 0); half of it added.
        let root = Float(5).squareRoot()
        let mean: [Float] = [1 / root, 2 / root, 0]
        let expected = [mean[0], mean[1] + 0.5, 0]
        let norm = (expected[0] * expected[0] + expected[1] * expected[1]).squareRoot()
        #expect(zip(angryAgent, expected).allSatisfy { abs($0 - $1 / norm) < 1e-5 }, "\(angryAgent)")
        #expect(conversation(agent: [0, 0, 1]).vector(of: ["customer"]) == [0, 0, 1], "no such speaker: the whole")
        #expect(conversation(agent: [0, 0, 1]).vector(of: []) == [0, 0, 1])
    }

    @Test("diverseTop takes a distinct relevant candidate before a near-duplicate of the first")
    func diverseTop() {
        let document: [Float] = [1, 1, 0]
        let candidates = ["late delivery", "delivery was late", "refund request"]
        let vectors: [[Float]] = [[1, 0.1, 0], [1, 0.1, 0.05], [0, 1, 0]]
        // By relevance alone the near-duplicate comes second.
        let relevance = vectors.map { cosineSimilarity($0, document) }
        #expect(relevance[0] > relevance[1] && relevance[1] > relevance[2])
        #expect(LocalAnalyzer.diverseTop(candidates, vectors: vectors, near: document, count: 2) == ["late delivery", "refund request"])
        #expect(
            LocalAnalyzer.diverseTop(candidates, vectors: vectors, near: document, count: 5)
                == ["late delivery", "refund request", "delivery was late"])
        #expect(LocalAnalyzer.diverseTop(candidates, vectors: vectors, near: document, count: 0).isEmpty)
    }
}
