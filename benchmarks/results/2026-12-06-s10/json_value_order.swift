import Foundation
enum A: Decodable { case null, bool(Bool), int(Int64), num(Double), str(String), arr([A]), obj([String: A])
  init(from d: any Decoder) throws { let c = try d.singleValueContainer()
    if c.decodeNil() { self = .null } else if let v = try? c.decode(Bool.self) { self = .bool(v) } else if let v = try? c.decode(Int64.self) { self = .int(v) } else if let v = try? c.decode(Double.self) { self = .num(v) } else if let v = try? c.decode(String.self) { self = .str(v) } else if let v = try? c.decode([A].self) { self = .arr(v) } else { self = .obj(try c.decode([String: A].self)) } } }
enum B: Decodable { case null, bool(Bool), int(Int64), num(Double), str(String), arr([B]), obj([String: B])
  init(from d: any Decoder) throws { let c = try d.singleValueContainer()
    if c.decodeNil() { self = .null } else if let v = try? c.decode(String.self) { self = .str(v) } else if let v = try? c.decode(Bool.self) { self = .bool(v) } else if let v = try? c.decode(Int64.self) { self = .int(v) } else if let v = try? c.decode(Double.self) { self = .num(v) } else if let v = try? c.decode([B].self) { self = .arr(v) } else { self = .obj(try c.decode([String: B].self)) } } }
let conv = #"{"messages":[{"role":"user","content":"my parcel is late again"},{"role":"assistant","content":"sorry to hear that"}],"metadata":{"channel":"email","n":3}}"#
let body = Data(("{\"conversations\":[" + Array(repeating: conv, count: 1000).joined(separator: ",") + "]}").utf8)
func time(_ f: () throws -> Void) rethrows -> Double { let s = Date(); for _ in 0..<5 { try f() }; return Date().timeIntervalSince(s) / 5 * 1000 }
for _ in 0..<2 {
  let a = try time { _ = try JSONDecoder().decode(A.self, from: body) }
  let b = try time { _ = try JSONDecoder().decode(B.self, from: body) }
  print(String(format: "bytes %d  bool-first %.1f ms  string-first %.1f ms  ratio %.2f", body.count, a, b, a / b))
}
