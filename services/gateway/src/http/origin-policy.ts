import { ErrorCode, P3Error } from '@p3/protocol';

interface OriginPattern {
  readonly scheme: string;
  /** Lower-case host name (`[::1]` for IPv6); with `subdomains`, the suffix after `*.`. */
  readonly host: string;
  readonly subdomains: boolean;
  /** `*` for any port; '' for the scheme's default port. */
  readonly port: string;
}

const defaultPorts: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443' };
const entryPattern = /^(https?:)\/\/(\*\.)?([^:/]+|\[[0-9a-f:.]+\])(?::(\d{1,5}|\*))?$/i;

/**
 * Which browser origins may use the gateway: a guard against cross-site requests and WebSocket hijacking (a page
 * of another site driving the server through its visitors' browsers). Browsers always send `Origin` on WebSocket
 * upgrades and cross-site POSTs, so a request is allowed when it has no `Origin` (not a browser: curl, SDKs,
 * servers), when its origin is the server's own (the `Origin` host is the request's `Host`), or when an entry
 * matches: `*` (any, `null` included), `scheme://host[:port]`, with `:*` for any port and `*.` for subdomains.
 *
 * @example
 * const policy = new OriginPolicy(['https://app.example.com', 'http://localhost:*']);
 * policy.check('https://evil.example', 'api.example.com'); // P3Error ORIGIN_NOT_ALLOWED
 */
export class OriginPolicy {
  private readonly any: boolean;
  private readonly patterns: readonly OriginPattern[];

  constructor(readonly allowed: readonly string[]) {
    this.any = allowed.includes('*');
    this.patterns = allowed.flatMap((entry) => {
      const match = entryPattern.exec(entry.trim());
      if (!match) return [];
      return [
        {
          scheme: match[1]!.toLowerCase(),
          host: match[3]!.toLowerCase(),
          subdomains: match[2] !== undefined,
          port: match[4] ?? '',
        },
      ];
    });
  }

  /** The refusal of a request with this `Origin` ('' when absent) and `Host` header, or undefined when allowed. */
  check(origin: string, host: string): P3Error | undefined {
    if (origin === '' || this.any) return undefined;
    const url = parseOrigin(origin);
    if (url !== undefined && (sameOrigin(url, host) || this.patterns.some((p) => matches(p, url))))
      return undefined;
    return new P3Error(
      ErrorCode.OriginNotAllowed,
      `origin ${origin.slice(0, 100)} is not allowed (allowed: this server's own and P3_ALLOWED_ORIGINS)`,
    );
  }
}

function parseOrigin(origin: string): URL | undefined {
  try {
    const url = new URL(origin);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/** The `Origin` names the host the request was sent to (default ports compared as such). */
function sameOrigin(origin: URL, host: string): boolean {
  if (host === '') return false;
  try {
    return new URL(`${origin.protocol}//${host}`).host === origin.host;
  } catch {
    return false;
  }
}

function matches(pattern: OriginPattern, origin: URL): boolean {
  if (pattern.scheme !== origin.protocol) return false;
  const host = origin.hostname.toLowerCase();
  if (pattern.subdomains ? !host.endsWith(`.${pattern.host}`) : host !== pattern.host) return false;
  if (pattern.port === '*') return true;
  const port = origin.port === '' ? defaultPorts[origin.protocol] : origin.port;
  return port === (pattern.port === '' ? defaultPorts[pattern.scheme] : pattern.port);
}
