import Foundation

/// An insights pipeline, as a file of `insights.pipelines_dir` declares it: how conversations are
/// filtered, cached and analysed, and the domain's labels. A new domain is a new file, no code.
///
/// Every key has a default except the labels; a key the pipeline does not know is refused, so that a
/// typo is not silently ignored. `version` is part of the exact cache's key: raise it when a change of
/// labels or prompt should not reuse earlier analyses.
public struct PipelineDefinition: Sendable, Equatable {
    public var name: String
    public var version = 1
    public var analyzer = Analyzer.local
    /// The roles whose messages are analysed; all when empty.
    public var roles: [String] = []
    /// The roles whose messages decide the sentiment (the customer's, not the agent's polite replies);
    /// all analysed ones when empty, or when none of these roles speaks in a conversation.
    public var sentimentRoles = ["user"]
    public var prefilter = Prefilter()
    public var cache = Cache()
    /// Sentiment labels and what each means, in words the model compares the conversation with.
    public var sentiment: [String: String]
    /// Topic labels and their descriptions.
    public var topics: [String: String]
    /// Conversations labelled by a person (`examples_file`, a label's `examples:`): the local analyzer
    /// learns each field whose labels have examples from them, and compares with descriptions otherwise.
    package var examples: [LabelledConversation] = []
    /// Most examples a pipeline learns from: a fit keeps their pairwise similarities, a square of them.
    package static let maximumExamples = 5000
    /// Below this confidence an insight is marked uncertain (and sent to `llm_fallback` when there is one).
    public var minConfidence = 0.6
    /// A chat model that analyses again the conversations the local analyzer is uncertain of.
    public var llmFallback: String?
    /// Least similarity for a topic to be given (local analyzer); with examples, the least probability
    /// of a topic beyond the first.
    public var topicThreshold = 0.25
    public var maxTopics = 3
    public var keyPhrases = 5
    public var summarySentences = 2
    /// Softmax temperature turning similarities into the sentiment's probability (local analyzer):
    /// lower is more decisive.
    public var confidenceTemperature = 0.05
    public var llm = LLM()

    public init(name: String, sentiment: [String: String], topics: [String: String]) {
        self.name = name
        self.sentiment = sentiment
        self.topics = topics
    }

    public enum Analyzer: Sendable, Equatable, CustomStringConvertible {
        /// Offline, on the embedding model: a classifier fitted on the labels' examples, or zero-shot by
        /// similarity to the labels' descriptions.
        case local
        /// A chat model the gateway serves (`chat.models_file`).
        case llm(model: String)

        package init?(_ text: String) {
            if text == "local" {
                self = .local
            } else if text.hasPrefix("llm:"), text.count > 4 {
                self = .llm(model: String(text.dropFirst(4)))
            } else {
                return nil
            }
        }

        public var description: String {
            switch self {
            case .local: "local"
            case .llm(let model): "llm:\(model)"
            }
        }
    }

    /// Cheap checks that keep low-value conversations away from the analyzer.
    public struct Prefilter: Sendable, Equatable {
        public var minCharacters = 20
        public var maxCharacters = 100_000
        /// Languages analysed (ISO 639-1); any when empty. A text whose language cannot be told passes.
        public var languages: [String] = []
        /// More links than this is treated as spam.
        public var maxURLs = 5
        /// Case-insensitive phrases that mark spam.
        public var spamPhrases = [
            "buy now", "click here", "limited time offer", "100% free", "act now", "winner!", "you have been selected",
        ]
        /// Share of letters in capitals above which (in texts of 40 letters or more) it is shouting, treated as spam.
        public var maxUppercaseRatio = 0.7
        /// Least share of distinct words (in texts of 20 words or more): below it, the text repeats itself.
        public var minDistinctWordRatio = 0.2
    }

    public struct Cache: Sendable, Equatable {
        /// Reuse the analysis of the same normalised text by the same pipeline version.
        public var exact = true
        /// Reuse the analysis of a conversation at least this similar (cosine); off when nil.
        public var semanticThreshold: Double? = 0.97
        /// How many of the team's latest analyses the semantic cache compares with.
        public var semanticWindow = 500
    }

    public struct LLM: Sendable, Equatable {
        /// What the model is told it is doing; the labels and the JSON shape are added to it.
        public var prompt = """
            You analyse conversations between a customer and a support team. Read the conversation and describe it.
            """
        /// Requests per conversation when the answer is not valid JSON of the schema (each retry says what was wrong).
        public var maxAttempts = 3
        public var maxTokens = 800
        public var temperature = 0.0
    }

    /// The pipeline used when a submission names none and no file replaces it: support conversations,
    /// three sentiments and common topics, learnt from the built-in examples.
    public static let builtIn: PipelineDefinition = {
        var pipeline = PipelineDefinition(name: "default", sentiment: supportSentiment, topics: supportTopics)
        // 1 was zero-shot: its cached analyses are not reused.
        pipeline.version = 2
        pipeline.examples = BuiltInExamples.support
        return pipeline
    }()

    /// The labels of support conversations that `BuiltInExamples.support` illustrates.
    package static let supportSentiment = [
        "positive": "The customer is happy, satisfied or thankful; the problem was solved and they are pleased.",
        "negative": "The customer is angry, frustrated, disappointed or upset; they complain about a problem.",
        "neutral": "The customer asks a plain factual question or gives information, with no strong feeling.",
    ]
    package static let supportTopics = [
        "billing": "Invoices, charges, payments, refunds, prices and subscriptions.",
        "technical_issue": "Something does not work: an error, a crash, a bug, an outage or slowness.",
        "account_access": "Logging in, passwords, two-factor authentication, locked or hacked accounts.",
        "shipping": "Delivery of an order: tracking, delays, lost or damaged packages, addresses.",
        "product_feedback": "Opinions about the product, feature requests, praise or criticism of how it works.",
        "cancellation": "Cancelling an order, a subscription or closing an account.",
    ]

    /// A pipeline's name must do as a metric label and a file name.
    package static func isValidName(_ name: String) -> Bool {
        (1...64).contains(name.count) && name.allSatisfy { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_" || $0 == "-") }
    }
}
