import NIOCore

extension DsyncFrame {
    /// Writes the whole frame: length field, type byte and payload.
    ///
    /// - Parameters:
    ///   - out: the buffer to append to; unchanged when this throws.
    ///   - maximumLength: the largest frame length (type byte plus payload) in bytes.
    /// - Throws: ``DsyncWireError`` `unencodable` for a field the format cannot hold,
    ///   `frameTooLarge` for a frame or body chunk above its limit.
    package func write(into out: inout ByteBuffer, maximumLength: Int) throws {
        let kind = self.kind
        if case .bodyChunk(_, let bytes) = self, bytes.readableBytes > Self.maximumBodyChunkLength {
            throw DsyncWireError(
                .frameTooLarge,
                "a bodyChunk frame of \(bytes.readableBytes) body bytes is above the limit of \(Self.maximumBodyChunkLength)",
                typeByte: kind.rawValue,
                length: bytes.readableBytes,
                limit: Self.maximumBodyChunkLength
            )
        }
        let start = out.writerIndex
        out.writeInteger(UInt32(0))
        out.writeInteger(kind.rawValue)
        do {
            try writePayload(into: &out)
        } catch {
            out.moveWriterIndex(to: start)
            throw error
        }
        let length = out.writerIndex - start - Self.lengthFieldSize
        guard length <= maximumLength else {
            out.moveWriterIndex(to: start)
            throw DsyncWireError(
                .frameTooLarge,
                "a \(kind) frame of \(length) bytes is above the maximum frame length of \(maximumLength)",
                typeByte: kind.rawValue,
                length: length,
                limit: maximumLength
            )
        }
        out.setInteger(UInt32(length), at: start)
    }

    private func writePayload(into out: inout ByteBuffer) throws {
        switch self {
        case .hello(let hello):
            out.writeInteger(hello.version.major)
            out.writeInteger(hello.version.minor)
            out.writeInteger(hello.syncKind.rawValue)
            try out.writeDsyncString(hello.user, field: "user", of: kind)
            try out.writeDsyncStrings(hello.capabilities, field: "capabilities", of: kind)
        case .welcome(let welcome):
            out.writeInteger(welcome.version.major)
            out.writeInteger(welcome.version.minor)
            try out.writeDsyncStrings(welcome.capabilities, field: "capabilities", of: kind)
        case .error(let code, let message):
            out.writeInteger(code)
            try out.writeDsyncString(message, field: "message", of: kind)
        case .request(let id, let json), .response(let id, let json):
            out.writeInteger(id)
            out.writeImmutableBuffer(json)
        case .bodyChunk(let streamID, let bytes):
            out.writeInteger(streamID)
            out.writeImmutableBuffer(bytes)
        case .bodyEnd(let streamID, let size, let sha256):
            guard sha256.count == Self.sha256Length else {
                throw DsyncWireError(
                    .unencodable,
                    "a bodyEnd digest must be \(Self.sha256Length) bytes, not \(sha256.count)",
                    typeByte: kind.rawValue
                )
            }
            out.writeInteger(streamID)
            out.writeInteger(size)
            out.writeBytes(sha256)
        case .ping, .pong, .goodbye:
            break
        }
    }

    /// Reads a frame's payload.
    ///
    /// - Parameters:
    ///   - typeByte: the frame's type byte.
    ///   - payload: exactly the payload bytes (the frame without length and type).
    /// - Throws: ``DsyncWireError`` `unknownFrameType`, `truncated` (a field runs past the
    ///   payload), `malformedPayload` (bad UTF-8, unknown values, trailing bytes) or
    ///   `frameTooLarge` (a body chunk above 256 KiB).
    package static func parse(typeByte: UInt8, payload: ByteBuffer) throws -> DsyncFrame {
        let length = payload.readableBytes + 1
        guard let kind = Kind(rawValue: typeByte) else {
            throw DsyncWireError(
                .unknownFrameType,
                "unknown frame type 0x\(hex(typeByte)) in a frame of \(length) bytes",
                typeByte: typeByte,
                length: length
            )
        }
        var reader = PayloadReader(buffer: payload, kind: kind)
        let frame: DsyncFrame
        switch kind {
        case .hello:
            let major = try reader.readInteger(as: UInt16.self, field: "major")
            let minor = try reader.readInteger(as: UInt16.self, field: "minor")
            let kindByte = try reader.readInteger(as: UInt8.self, field: "sync kind")
            guard let syncKind = DsyncSyncKind(rawValue: kindByte) else {
                throw reader.malformed("unknown sync kind \(kindByte)")
            }
            let user = try reader.readString(field: "user")
            let capabilities = try reader.readStrings(field: "capabilities")
            // Later minors may append fields: the rest is ignored.
            return .hello(
                DsyncHello(
                    version: DsyncProtocolVersion(major: major, minor: minor),
                    capabilities: capabilities,
                    user: user,
                    syncKind: syncKind
                )
            )
        case .welcome:
            let major = try reader.readInteger(as: UInt16.self, field: "major")
            let minor = try reader.readInteger(as: UInt16.self, field: "minor")
            let capabilities = try reader.readStrings(field: "capabilities")
            return .welcome(
                DsyncWelcome(version: DsyncProtocolVersion(major: major, minor: minor), capabilities: capabilities)
            )
        case .error:
            let code = try reader.readInteger(as: UInt16.self, field: "code")
            let message = try reader.readString(field: "message")
            frame = .error(code: code, message: message)
        case .request:
            let id = try reader.readInteger(as: UInt32.self, field: "id")
            frame = .request(id: id, json: reader.readRest())
        case .response:
            let id = try reader.readInteger(as: UInt32.self, field: "id")
            frame = .response(id: id, json: reader.readRest())
        case .bodyChunk:
            let streamID = try reader.readInteger(as: UInt32.self, field: "stream id")
            let bytes = reader.readRest()
            guard bytes.readableBytes <= maximumBodyChunkLength else {
                throw DsyncWireError(
                    .frameTooLarge,
                    "a bodyChunk frame carries \(bytes.readableBytes) body bytes, above the limit of \(maximumBodyChunkLength)",
                    typeByte: typeByte,
                    length: length,
                    limit: maximumBodyChunkLength
                )
            }
            frame = .bodyChunk(streamID: streamID, bytes: bytes)
        case .bodyEnd:
            let streamID = try reader.readInteger(as: UInt32.self, field: "stream id")
            let size = try reader.readInteger(as: UInt64.self, field: "size")
            let sha256 = try reader.readBytes(count: sha256Length, field: "sha256")
            frame = .bodyEnd(streamID: streamID, size: size, sha256: sha256)
        case .ping:
            frame = .ping
        case .pong:
            frame = .pong
        case .goodbye:
            frame = .goodbye
        }
        try reader.expectEnd()
        return frame
    }
}

/// Two lowercase hex digits.
func hex(_ byte: UInt8) -> String {
    let digits = Array("0123456789abcdef")
    return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
}

/// Reads the fields of one payload, turning every shortfall into an error naming the frame
/// type and the field.
private struct PayloadReader {
    var buffer: ByteBuffer
    let kind: DsyncFrame.Kind
    let length: Int

    init(buffer: ByteBuffer, kind: DsyncFrame.Kind) {
        self.buffer = buffer
        self.kind = kind
        self.length = buffer.readableBytes + 1
    }

    mutating func readInteger<T: FixedWidthInteger>(as: T.Type, field: String) throws -> T {
        guard let value = buffer.readInteger(as: T.self) else {
            throw truncated(field: field, needed: MemoryLayout<T>.size)
        }
        return value
    }

    mutating func readBytes(count: Int, field: String) throws -> [UInt8] {
        guard let bytes = buffer.readBytes(length: count) else {
            throw truncated(field: field, needed: count)
        }
        return bytes
    }

    mutating func readString(field: String) throws -> String {
        let count = Int(try readInteger(as: UInt16.self, field: "\(field) length"))
        let bytes = try readBytes(count: count, field: field)
        let string = String(decoding: bytes, as: UTF8.self)
        // Decoding repairs invalid UTF-8; a repaired string has different bytes.
        guard string.utf8.elementsEqual(bytes) else {
            throw malformed("the \(field) is not valid UTF-8")
        }
        return string
    }

    mutating func readStrings(field: String) throws -> [String] {
        let count = Int(try readInteger(as: UInt16.self, field: "\(field) count"))
        var strings: [String] = []
        // Each string takes at least 2 bytes, so the count cannot make this reserve much.
        strings.reserveCapacity(min(count, buffer.readableBytes / 2))
        for index in 0..<count {
            strings.append(try readString(field: "\(field)[\(index)]"))
        }
        return strings
    }

    mutating func readRest() -> ByteBuffer {
        buffer.readSlice(length: buffer.readableBytes) ?? ByteBuffer()
    }

    func expectEnd() throws {
        guard buffer.readableBytes == 0 else {
            throw malformed("\(buffer.readableBytes) bytes follow the last field")
        }
    }

    func truncated(field: String, needed: Int) -> DsyncWireError {
        DsyncWireError(
            .truncated,
            "a \(kind) frame of \(length) bytes ends inside its \(field) (\(needed) bytes needed, \(buffer.readableBytes) left)",
            typeByte: kind.rawValue,
            length: length
        )
    }

    func malformed(_ what: String) -> DsyncWireError {
        DsyncWireError(
            .malformedPayload,
            "malformed \(kind) frame of \(length) bytes: \(what)",
            typeByte: kind.rawValue,
            length: length
        )
    }
}

extension ByteBuffer {
    fileprivate mutating func writeDsyncString(_ string: String, field: String, of kind: DsyncFrame.Kind) throws {
        let count = string.utf8.count
        guard count <= Int(UInt16.max) else {
            throw DsyncWireError(
                .unencodable,
                "the \(field) of a \(kind) frame is \(count) UTF-8 bytes, above the limit of \(UInt16.max)",
                typeByte: kind.rawValue,
                limit: Int(UInt16.max)
            )
        }
        writeInteger(UInt16(count))
        writeString(string)
    }

    fileprivate mutating func writeDsyncStrings(_ strings: [String], field: String, of kind: DsyncFrame.Kind) throws {
        guard strings.count <= Int(UInt16.max) else {
            throw DsyncWireError(
                .unencodable,
                "a \(kind) frame lists \(strings.count) \(field), above the limit of \(UInt16.max)",
                typeByte: kind.rawValue,
                limit: Int(UInt16.max)
            )
        }
        writeInteger(UInt16(strings.count))
        for string in strings {
            try writeDsyncString(string, field: field, of: kind)
        }
    }
}
