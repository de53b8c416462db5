import ConduitCore
import HTTPTypes

/// How the gateway's routes take a call in: the body read and checked, its model found, and what it may
/// use held against the caller's limits before it is made, so that no replica or stream can go past them
/// (its largest size in tokens, and its largest cost against the monthly budgets). A request refused on
/// the way is counted and recorded all the same.
struct CallAdmission: Sendable {
    let gateway: ChatGateway
    let rateLimiter: RateLimiter?
    let meter: UsageMeter

    /// A call let in: what it asks, the model that serves it, and its metering, which holds its reservations.
    struct Admitted<Body: RoutedRequest>: Sendable {
        var body: Body
        var model: GatewayModel
        var metering: Metering
    }

    /// Reads the body with `read` and admits it as a call at `route`, resolving its model in `configuration`.
    func admit<Body: RoutedRequest>(
        _: Body.Type, route: String, context: ConduitRequestContext, configuration: ChatConfiguration, started: ContinuousClock.Instant,
        read: () async throws -> [String: JSONValue]
    ) async throws -> Admitted<Body> {
        var named = ""
        do {
            let fields = try await read()
            named = fields["model"]?.stringValue ?? ""
            let body = try Body(fields)
            let model = try gateway.model(body.model, kind: Body.kind, in: configuration)
            let reservation = try await hold(body, model: model, in: configuration, for: context.identity)
            let metering = Metering(
                meter: meter, metrics: gateway.metrics, rateLimiter: rateLimiter, reservation: reservation,
                alertPercents: configuration.budgetAlertPercents, identity: context.identity, model: body.model, route: route,
                started: started)
            return Admitted(body: body, model: model, metering: metering)
        } catch {
            throw await refused(error, identity: context.identity, model: named, route: route, started: started)
        }
    }

    /// Holds the call's prompt and completion reservation, and their cost at the highest prices among the
    /// deployments of `model` and its fallbacks.
    private func hold(_ body: some RoutedRequest, model: GatewayModel, in configuration: ChatConfiguration, for identity: Identity?)
        async throws -> CallReservation
    {
        guard let rateLimiter else { return CallReservation() }
        let admission = try await rateLimiter.admit(identity, tokens: body.promptTokens + body.completionReservation)
        do {
            let deployments = ([model] + model.fallbacks.compactMap { configuration.models[$0] }).flatMap(\.deployments)
            let input = deployments.map(\.inputPricePerMillion).max() ?? 0
            let output = deployments.map(\.outputPricePerMillion).max() ?? 0
            // A price per million tokens is a millionth of a dollar per token.
            let largestCost = Int64((Double(body.promptTokens) * input + Double(body.completionReservation) * output).rounded(.up))
            return CallReservation(admission: admission, spend: try await rateLimiter.reserveSpend(identity, microUSD: largestCost))
        } catch {
            await rateLimiter.refund(admission)
            throw error
        }
    }

    /// A request refused before it was admitted: counted toward the caller's request limit all the same
    /// (bad requests are not free; past the limit, the answer is the 429), and recorded. Returns what to throw.
    private func refused(_ error: any Error, identity: Identity?, model: String, route: String, started: ContinuousClock.Instant) async
        -> any Error
    {
        var thrown = error
        do {
            try await rateLimiter?.countRefused(APIError(error), identity: identity)
        } catch {
            thrown = error
        }
        meter.record(
            teamID: identity?.teamID, keyID: identity?.keyID, model: model, route: route, tokens: 0,
            status: Int(APIError(thrown).status.code),
            since: started)
        return thrown
    }
}

/// What a call holds against its caller's limits until it is settled (`Metering`): tokens, and spend.
struct CallReservation: Sendable {
    var admission: RateLimiter.Admission?
    var spend: RateLimiter.Admission?
}
