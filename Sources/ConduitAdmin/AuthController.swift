import ConduitCore
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Store

/// `POST /v1/auth/login` (email and password → a short-lived access token and a refresh token),
/// `POST /v1/auth/refresh` (a refresh token, spent → a new pair; a spent one presented again revokes
/// its whole family), `POST /v1/auth/logout` (revokes the refresh token's family).
package struct AuthController {
    package let store: Database
    package let accessTokens: AccessTokens
    /// Seconds a refresh token is valid.
    package let refreshLifetime: Duration = .seconds(30 * 86_400)

    package struct Login: Decodable {
        package var email: String
        package var password: String
        /// The team (id or name), needed only where the email and password are those of users of several teams.
        package var team: String?
    }

    package struct Refresh: Decodable {
        package var refreshToken: String
        package enum CodingKeys: String, CodingKey { case refreshToken = "refresh_token" }
    }

    package struct Tokens: Encodable {
        package var accessToken: String
        var tokenType = "bearer"
        package var expiresIn: Int64
        package var refreshToken: String
    }

    /// Login attempts per account and client address, in any 60 seconds: enough for a person, too few to
    /// guess a password. Per account *and* address, so that someone else's guessing cannot lock the account's
    /// owner out from their own address.
    package static let attemptsPerMinute: Int64 = 10
    /// Login attempts per client address in any 60 seconds, whatever the emails: one client trying one
    /// password on many accounts. Higher, for the people behind one NAT or office proxy.
    package static let attemptsPerAddressPerMinute: Int64 = 30
    /// Past `attemptsPerMinute` on one account from all addresses together (a guess spread over many
    /// addresses), each attempt waits this long per attempt over, up to `maximumDelay`, rather than
    /// being refused: slow for a guesser, a pause for the owner.
    package static let delayPerExcessAttempt: Duration = .milliseconds(500)
    package static let maximumDelay: Duration = .seconds(5)
    /// Login attempts per account from all addresses together in any 60 seconds: past it, refused. The
    /// delay alone would not bound guesses made in parallel from many addresses.
    package static let attemptsPerAccountPerMinute: Int64 = 60

    private func throttle(email: String, address: SocketAddress?) async throws {
        let account = "login:" + email.trimmingCharacters(in: .whitespaces).lowercased()
        let client = address.flatMap(Self.clientNetwork)
        var windows = [
            // The account across every address: counted for the delay, refused only far past it.
            RateWindow(
                subject: account, period: .minute, requestLimit: client == nil ? Self.attemptsPerMinute : Self.attemptsPerAccountPerMinute,
                tokenLimit: nil)
        ]
        if let client {
            windows.append(
                RateWindow(subject: account + "|" + client, period: .minute, requestLimit: Self.attemptsPerMinute, tokenLimit: nil))
            windows.append(
                RateWindow(subject: "login-ip:" + client, period: .minute, requestLimit: Self.attemptsPerAddressPerMinute, tokenLimit: nil))
        }
        let now = StoreTime.now()
        switch try await store.rateCounters.admit(tokens: 0, in: windows, now: now) {
        case .refused(let status):
            throw LimitError.loginAttempts(
                fromAddress: status.window.subject.hasPrefix("login-ip:"), retryAfter: StoreTime.secondsUntil(status.resetsAt, from: now))
        case .admitted(let statuses):
            let excess = (statuses.first?.requests ?? 0) - Self.attemptsPerMinute
            if excess > 0 { try await Task.sleep(for: min(Self.delayPerExcessAttempt * Int(excess), Self.maximumDelay)) }
        }
    }

    /// Whom a login attempt counts against: an IPv4 address, or an IPv6 address's /64 (one host often
    /// holds a whole /64, and would otherwise get a budget per address in it). An IPv4 client seen
    /// as an IPv4-mapped IPv6 address counts as itself.
    package static func clientNetwork(_ address: SocketAddress) -> String? {
        guard let bytes = address.addressBytes else { return nil }
        guard bytes.count == 16 else { return bytes.map(String.init).joined(separator: ".") }
        let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
        return groups.joined(separator: ":") + "::/64"
    }

    package func addRoutes(to router: some RouterMethods<ConduitRequestContext>) {
        router.post("/v1/auth/login") { request, context in
            let body = try await request.decodeJSON(as: Login.self, limit: 16 * 1024)
            try await throttle(email: body.email, address: context.clientAddress.flatMap { try? SocketAddress(ipAddress: $0, port: 0) })
            guard let user = try await store.users.authenticate(email: body.email, password: body.password, team: body.team) else {
                throw APIKeyAuthenticator.unauthorized("incorrect email or password", code: "invalid_credentials")
            }
            let refresh = try await store.refreshTokens.issue(userID: user.id, lifetime: refreshLifetime)
            return try json(Tokens(accessToken: try accessTokens.issue(for: user), expiresIn: accessTokens.lifetime, refreshToken: refresh))
        }
        router.post("/v1/auth/refresh") { request, _ in
            let body = try await request.decodeJSON(as: Refresh.self, limit: 16 * 1024)
            switch try await store.refreshTokens.refresh(body.refreshToken) {
            case .rotated(let user, let refresh):
                return try json(
                    Tokens(accessToken: try accessTokens.issue(for: user), expiresIn: accessTokens.lifetime, refreshToken: refresh))
            case .reused:
                throw APIKeyAuthenticator.unauthorized(
                    "this refresh token was already used; every token of its login is now revoked", code: "refresh_token_reused")
            case .invalid:
                throw APIKeyAuthenticator.unauthorized("invalid or expired refresh token", code: "invalid_token")
            }
        }
        router.post("/v1/auth/logout") { request, _ in
            let body = try await request.decodeJSON(as: Refresh.self, limit: 16 * 1024)
            try await store.refreshTokens.revokeFamily(of: body.refreshToken)
            return Response(status: .noContent)
        }
    }
}
