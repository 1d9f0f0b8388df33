/**
 * Lockstep page client: keeps this tab's view of the login session in lockstep with every
 * other tab, through the Lockstep service worker (see docs/PROTOCOL.md).
 *
 * ```js
 * import { Lockstep } from "/lockstep/lockstep-client.js";
 * const session = await Lockstep.start({ sw: "/lockstep-sw.js", config: "/lockstep.config.json" });
 * session.subscribe((s) => render(s));
 * ```
 *
 * The page never decides anything about the session: it asks the worker, and the worker's
 * answers (and its broadcasts) are the only thing that changes {@link Session.state}.
 */

/** Failure codes of {@link LockstepError}. */
export type LockstepErrorCode =
  /** The worker did not answer a request in time (default 3 s), or did not activate in time (15 s). */
  | "timeout"
  /** The worker refused our message, or its reply could not be read. */
  | "bad-message"
  /** The worker's config is missing or invalid, or the page is outside the worker's scope, or `start()` was called without `sw`/`config` or with one on another origin. */
  | "bad-config"
  /** No active worker to talk to: registration or installation failed, or the worker is still loading. */
  | "not-ready"
  /** The call is not available in this mode (e.g. `reportLogin` while a worker is used). */
  | "unsupported";

/** Every rejection of this module is a `LockstepError`; switch on `code`, show `message`. */
export class LockstepError extends Error {
  constructor(code: LockstepErrorCode, message: string, options?: { cause?: unknown });
  readonly name: "LockstepError";
  readonly code: LockstepErrorCode;
}

/** Why the session is logged out; `null` when it never was logged in (or while logged in). */
export type LogoutReason =
  | "logout"
  | "idle"
  | "unauthorized"
  | "refresh-failed"
  | "expired"
  /** Ended by another app through the cross-site cookie. */
  | "elsewhere"
  | null;

/** The session as the worker announced it. Frozen; a new object on every change. */
export interface LockstepState {
  readonly status: "logged-in" | "logged-out";
  /** Whatever the token endpoint's `user` field held (e.g. `{ name: "ada" }`); `null` when logged out. */
  readonly user: unknown;
  /** Access-token expiry in this tab's clock (ms since epoch, comparable with `Date.now()`), or `null`. */
  readonly expiresAt: number | null;
  /** Shared idle deadline in this tab's clock (ms since epoch), or `null` when no idle timeout is configured. */
  readonly idleDeadline: number | null;
  /** Grows with every login and every end of session; states of an older epoch are ignored. */
  readonly epoch: number;
  /** Why the session ended (a string not listed here may come from a newer worker). */
  readonly reason: LogoutReason | (string & {});
  /**
   * `"worker"`: the service worker owns the session (tokens, bearer injection, idle timer).
   * `"broadcast-only"`: no service-worker support (old browsers, some private modes): tabs only
   * share logged-in/logged-out over BroadcastChannel, the page handles tokens itself, there is
   * no idle timer and no navigation to the login page (subscribe and navigate yourself).
   */
  readonly mode: "worker" | "broadcast-only";
}

/** Passed to an idle-warning listener while the idle deadline is within the configured warning time. */
export interface IdleWarning {
  /** When the session ends if nobody is active, in this tab's clock (ms since epoch). */
  readonly deadline: number;
}

export interface StartOptions {
  /** URL of the service-worker bootstrap, e.g. `"/lockstep-sw.js"`. */
  sw: string;
  /** Same-origin URL of `lockstep.config.json`; the worker fetches it (never taken from a page message). */
  config: string;
  /** Registration scope; defaults to the directory of `sw`. The page must be inside it. */
  scope?: string;
  /** Timeout of each request to the worker, in ms. Default 3000. */
  timeoutMs?: number;
}

export interface Session {
  /** The current state; known before `start()` resolves. */
  readonly state: LockstepState;

  /**
   * Calls `fn(state)` on every change of status, user, expiresAt, idleDeadline, epoch or reason,
   * in every tab. When the worker sends this tab elsewhere (login page, or back to the return
   * URL), subscribers run synchronously first, so apps can close sockets. Returns unsubscribe.
   */
  subscribe(fn: (state: LockstepState) => void): () => void;

  /**
   * Calls `fn({ deadline })` when `Date.now()` reaches `idleDeadline - warningMs`, and
   * `fn(null)` when the warning no longer applies: activity in any tab moved the deadline, or
   * the session ended. Called at once if a warning is showing. At the deadline this tab asks
   * the worker to re-check (`tick`); the worker ends the session. Returns unsubscribe.
   * Never called in `"broadcast-only"` mode.
   */
  onIdleWarning(fn: (warning: IdleWarning | null) => void): () => void;

  /**
   * Reports activity now (unthrottled), e.g. from a "stay logged in" button. Input events
   * (pointerdown, keydown, wheel, touchstart) and the tab becoming visible are reported
   * automatically while logged in, at most once per max(1 s, min(timeout / 10, 30 s)).
   * Resolves once the worker answered; no-op in `"broadcast-only"` mode.
   */
  stayActive(): Promise<void>;

  /**
   * Asks the worker to end the session everywhere (it calls the logout endpoint once and sends
   * every tab to the login page). Resolves after the worker's answer. In `"broadcast-only"`
   * mode it tells the other tabs over BroadcastChannel.
   */
  logout(): Promise<void>;

  /**
   * **Fallback only** (`state.mode === "broadcast-only"`): tells this and the other tabs that
   * the app logged in. Throws `LockstepError("unsupported")` with a worker, which learns of
   * logins from the token endpoint itself and cannot be told "logged in" by a page.
   */
  reportLogin(user?: unknown): void;
}

export class Lockstep {
  /**
   * Registers the worker (`updateViaCache: "none"`), waits until it controls this page, says
   * hello and resolves once the state is known. Later calls return the first call's promise.
   *
   * After a hard reload (shift-reload) the page is not controlled, so API requests would miss
   * the bearer: the client reloads the page once (guarded by a sessionStorage counter, so never
   * in a loop); if that does not help, it works uncontrolled with a console warning.
   *
   * Without service-worker support, or when registration fails with a SecurityError, resolves
   * a `"broadcast-only"` session. Rejects with a {@link LockstepError} otherwise, e.g.
   * `bad-config` when the worker reports an invalid config, or when `sw` or `config` is not on
   * this page's origin (checked before anything is registered).
   */
  static start(options: StartOptions): Promise<Session>;
}

/** @internal Pure helpers, exported for unit tests only. Not part of the API. */
export const __test: {
  toLocalTime(t: number | null, workerNow: number, localNow: number): number | null;
  isSameOrigin(url: string, base: string): boolean;
  activityThrottleMs(timeoutMs: number | null | undefined): number;
  decodeWorkerMessage(data: unknown): unknown;
  decodeFallbackMessage(data: unknown): unknown;
};
