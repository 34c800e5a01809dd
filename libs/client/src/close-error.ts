import { CloseCode, ErrorCode, P3Error } from '@p3/protocol';

const codes: ReadonlyMap<number, ErrorCode> = new Map<number, ErrorCode>([
  [CloseCode.ProtocolVersion, ErrorCode.ProtocolVersion],
  [CloseCode.Unauthorized, ErrorCode.Unauthorized],
  [CloseCode.Forbidden, ErrorCode.Forbidden],
  [CloseCode.BadHandshake, ErrorCode.InvalidMessage],
  [CloseCode.RoomFull, ErrorCode.RoomFull],
  [CloseCode.QuotaExceeded, ErrorCode.QuotaExceeded],
  [CloseCode.ProtocolViolation, ErrorCode.InvalidMessage],
  [CloseCode.RateLimited, ErrorCode.RateLimited],
]);

/** The error a pending `connect()` rejects with when the server closes for good (close code -> error code). */
export function closeError(code: number, reason: string): P3Error {
  return new P3Error(
    codes.get(code) ?? ErrorCode.Internal,
    `connection closed (${code}${reason ? `: ${reason}` : ''})`,
    { detail: String(code) },
  );
}
