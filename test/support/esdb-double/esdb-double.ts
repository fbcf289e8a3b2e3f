/**
 * An in-process double of EventStoreDB's gRPC Streams and ServerFeatures services, for tests only
 * (never in the product).
 *
 * It is built on the client's own generated service definitions and message classes
 * (`@eventstore/db-client/generated/*`): the client's serializers check `instanceof` against the
 * module it loads itself, so responses are built from that very module. It follows the server
 * (EventStore/EventStore, `src/EventStore.Core/Services/Transport/Grpc/` and the index writer's
 * commit checks) on what the platform uses:
 *
 * - `ServerFeatures.GetSupportedMethods` announcing `Streams.BatchAppend`, so client 6.x appends
 *   through `BatchAppend` as it does against servers from 21.10 on (`batchAppend: false` models an
 *   older server: the method is unimplemented and the client falls back to `Streams.Append`);
 * - `Streams.Append` and `Streams.BatchAppend` with the expected-revision rules `any` / `no_stream` /
 *   `stream_exists` / exact, answering wrong expected version with the current revision; idempotent
 *   repeats as the server decides them: with an exact revision or `no_stream` by the ids at the
 *   revisions the expected revision points to (forever), with `any` / `stream_exists` only through a
 *   bounded cache of recent commits (`idempotencyCacheSize`, `forgetIdempotency()` for a restart,
 *   failover or eviction); a half-repeated batch is refused as wrong expected version;
 * - the maximum append size (`maxAppendSize`, default 1 MiB as the server: data + metadata + 2 bytes
 *   per character of the type, summed over the append), refused with `MaximumAppendSizeExceeded`;
 * - the statuses of each path: Append answers gRPC status errors with the server's `exception`
 *   metadata; BatchAppend answers a `google.rpc.Status` per write request (not ready and too busy come
 *   as a status with an empty detail, which the client turns into an `UnknownError` without a code),
 *   and ends the whole call on NotLeader, as the server does;
 * - `Streams.Read` for a stream (inclusive start revision, forwards or backwards, `stream_not_found`,
 *   `stream-deleted` for a tombstone) and for `$all` (forwards inclusive of the start position,
 *   backwards exclusive of it), and catch-up subscriptions to `$all` (exclusive start position;
 *   optional stream-name or event-type filter with checkpoints) in the server's order: confirmation,
 *   catch-up events, caught-up, live;
 * - `Streams.Delete` (soft delete: `$tb` in the stream's metadata; a later `no_stream` or `any`
 *   append recreates the stream from the next revision, older events stay hidden), `Streams.Tombstone`
 *   (the stream is gone for good: appends and reads answer `stream-deleted`) and the metadata stream
 *   `$$<stream>` (`$maxCount` and `$tb` truncate what reads return);
 * - recorded events carry the system metadata `type`, `content-type` and `created` (.NET ticks since the Unix epoch), and
 *   commit = prepare position per event (implicit transactions); an append answers the last event's
 *   position as commit and the first event's as prepare, as the server does; `$all` holds system
 *   events (`$`-prefixed streams and types) besides the tests' own.
 *
 * Faults a test switches on (`faults`, `freezeFollower()`, `forgetIdempotency()`): writes that are
 * committed and then answered as timed out, "server is not ready" answers, NotLeader with a leader's
 * address, reads without `requires-leader` served by a follower that lags behind, AccessDenied on
 * reading `$all` (secure mode, a user outside `$admins`).
 *
 * What it still does not do: users, ACLs and authentication (AccessDenied is a switch, not a policy);
 * clustering and gossip (one node; NotLeader names an address the test chooses); scavenging (deleted
 * and truncated events are hidden, never reclaimed); `$maxAge`; persistent subscriptions, stream
 * subscriptions and projections; deadlines (a request is never answered late on its own); the
 * per-event `MaxAppendEventSize` of KurrentDB 25 (its default is unlimited). The log lives in the
 * `EsdbDouble` object and survives `stop()` / `start()`, so a test can take the "server" away and bring
 * it back on the same port; the idempotency cache survives too unless `forgetIdempotency()` is called.
 */
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
// The client's generated code: the same module instances the client itself loads.
import * as streamsGrpc from '@eventstore/db-client/generated/streams_grpc_pb';
import * as pb from '@eventstore/db-client/generated/streams_pb';
import * as shared from '@eventstore/db-client/generated/shared_pb';
import * as featuresGrpc from '@eventstore/db-client/generated/serverfeatures_grpc_pb';
import * as featuresPb from '@eventstore/db-client/generated/serverfeatures_pb';
import * as statusPb from '@eventstore/db-client/generated/status_pb';
import { Any } from 'google-protobuf/google/protobuf/any_pb';

export interface StoredEvent {
  streamName: string;
  revision: number;
  id: string;
  type: string;
  contentType: string;
  data: Uint8Array;
  customMetadata: Uint8Array;
  /** .NET ticks (100 ns) since the Unix epoch, as a decimal string */
  created: string;
  position: number;
}

export interface EsdbDoubleOptions {
  /** fixed port (to restart on the same address); default: an ephemeral port chosen at first start */
  port?: number;
  /** write a system event into `$all` after every N appends (0: never); default 3 */
  systemEventEvery?: number;
  /** the server's MaxAppendSize in bytes; default 1 MiB (the server's default); 0: no limit */
  maxAppendSize?: number;
  /** serve ServerFeatures and BatchAppend (servers >= 21.10); default true */
  batchAppend?: boolean;
  /** event ids the `any` / `stream_exists` idempotency check remembers (the server's 8 MB commit cache); default 100,000 */
  idempotencyCacheSize?: number;
}

/** Faults a test switches on; counters count down as calls consume them. */
export interface EsdbDoubleFaults {
  /** the next N appends are written and then answered as timed out (Append: ABORTED; BatchAppend: Timeout) */
  commitThenTimeout: number;
  /** the next N appends and reads are answered "Server Is Not Ready" */
  notReady: number;
  /** the next N appends and reads with `requires-leader` are answered NotLeader, naming `leader` */
  notLeader: number;
  /** the leader's address NotLeader names; default: this double itself */
  leader?: { host: string; port: number };
  /** reads of `$all` and subscriptions to it answer AccessDenied (secure mode, a user outside `$admins`) */
  denyAllRead: boolean;
  /** when set, the counted faults above only hit the requests it accepts (and only those consume them) */
  when?: (request: { kind: 'append' | 'read'; streamName: string }) => boolean;
}

/** The server's default MaxAppendSize. */
export const DEFAULT_MAX_APPEND_SIZE = 1024 * 1024;

/**
 * `created` as the server's gRPC transport sends it: .NET ticks (100 ns) since the Unix epoch
 * (`ToTicksSinceEpoch`), which is what the client divides by 10,000 to get a Date.
 */
const toTicks = (ms: number): string => (BigInt(ms) * 10000n).toString();

/** Events a filter looks at per checkpoint window when the client asks for `count`. */
const DEFAULT_SEARCH_WINDOW = 32;

type AppendCall = grpc.ServerReadableStream<pb.AppendReq, pb.AppendResp>;
type BatchAppendCall = grpc.ServerDuplexStream<pb.BatchAppendReq, pb.BatchAppendResp>;
type ReadCall = grpc.ServerWritableStream<pb.ReadReq, pb.ReadResp>;

type Expected = { kind: 'any' } | { kind: 'no_stream' } | { kind: 'stream_exists' } | { kind: 'revision'; revision: number };
type Message = Omit<StoredEvent, 'streamName' | 'revision' | 'created' | 'position'>;

/** Outcome of one write request, rendered by Append and BatchAppend in their own ways. */
type WriteOutcome =
  | { kind: 'success'; revision: number; first?: StoredEvent; last?: StoredEvent; noStream?: boolean }
  | { kind: 'wrong-expected-version'; current: number }
  | { kind: 'too-large' }
  | { kind: 'stream-deleted' }
  | { kind: 'timeout' }
  | { kind: 'not-ready' }
  | { kind: 'not-leader' };

interface StreamState {
  events: StoredEvent[];
  /** reads hide revisions below this (`$tb`: soft delete or truncate-before) */
  truncateBefore: number;
  maxCount?: number;
  tombstoned: boolean;
}

export class EsdbDouble {
  readonly log: StoredEvent[] = [];
  private readonly streams = new Map<string, StreamState>();
  private readonly appended = new EventEmitter();
  /** eventId -> where it was committed: the server's bounded cache of recent commits */
  private readonly committed = new Map<string, { streamName: string; revision: number }>();
  private nextPosition = 0;
  private appendsSinceSystemEvent = 0;
  private server?: grpc.Server;
  private boundPort?: number;
  /** position from which non-leader reads see nothing (a lagging follower); undefined: no lag */
  private followerHorizon?: number;
  readonly faults: EsdbDoubleFaults = { commitThenTimeout: 0, notReady: 0, notLeader: 0, denyAllRead: false };
  /**
   * counters a test or the bench can look at: write requests (one per append, either path), gRPC
   * calls opened per method, reads (and how many carried `requires-leader`), subscriptions
   */
  readonly stats = {
    appends: 0,
    appendCalls: 0,
    batchAppendCalls: 0,
    reads: 0,
    leaderReads: 0,
    subscriptions: 0,
    featureCalls: 0,
    /** the largest append accepted or refused, in the server's MaxAppendSize bytes */
    largestAppendBytes: 0,
    /** reads and appends by kind of stream (its name up to the first id: `cem-internal-eventid`, `customer`, `$all`...) */
    readsByStreamKind: {} as Record<string, number>,
    appendsByStreamKind: {} as Record<string, number>,
  };

  constructor(private readonly options: EsdbDoubleOptions = {}) {
    this.appended.setMaxListeners(0);
    this.boundPort = options.port;
    // A fresh server's log does not start empty either.
    this.writeSystemEvent('$settings', '$settings', { $userStreamAcl: { $r: '$all' } });
  }

  get port(): number {
    if (this.boundPort === undefined) throw new Error('the double has not been started');
    return this.boundPort;
  }

  get connectionString(): string {
    return `esdb://127.0.0.1:${this.port}?tls=false`;
  }

  get running(): boolean {
    return this.server !== undefined;
  }

  get maxAppendSize(): number {
    return this.options.maxAppendSize ?? DEFAULT_MAX_APPEND_SIZE;
  }

  /** total gRPC calls the clients opened (appends of either path, reads, subscriptions, feature queries) */
  get calls(): number {
    const s = this.stats;
    return s.appendCalls + s.batchAppendCalls + s.reads + s.subscriptions + s.featureCalls;
  }

  async start(): Promise<string> {
    if (this.server) return this.connectionString;
    const server = new grpc.Server();
    const streams: Record<string, unknown> = {
      append: (call: AppendCall, callback: grpc.sendUnaryData<pb.AppendResp>) => this.onAppend(call, callback),
      read: (call: ReadCall) => this.onRead(call),
      delete: (call: grpc.ServerUnaryCall<pb.DeleteReq, pb.DeleteResp>, cb: grpc.sendUnaryData<pb.DeleteResp>) => this.onDelete(call, cb),
      tombstone: (call: grpc.ServerUnaryCall<pb.TombstoneReq, pb.TombstoneResp>, cb: grpc.sendUnaryData<pb.TombstoneResp>) =>
        this.onTombstone(call, cb),
    };
    if (this.options.batchAppend !== false) {
      streams.batchAppend = (call: BatchAppendCall) => this.onBatchAppend(call);
      server.addService(featuresGrpc.ServerFeaturesService, {
        getSupportedMethods: (_call: unknown, cb: grpc.sendUnaryData<featuresPb.SupportedMethods>) => {
          this.stats.featureCalls++;
          cb(null, this.supportedMethods());
        },
      } as unknown as grpc.UntypedServiceImplementation);
    }
    server.addService(streamsGrpc.StreamsService, streams as unknown as grpc.UntypedServiceImplementation);
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`127.0.0.1:${this.boundPort ?? 0}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      ),
    );
    this.boundPort = port;
    this.server = server;
    return this.connectionString;
  }

  /** Takes the server away at once: open calls fail on the client side, like a crashed node. */
  stop(): void {
    const server = this.server;
    this.server = undefined;
    this.appended.emit('stopped');
    server?.forceShutdown();
  }

  /** The server's commit cache is gone (restart, failover, eviction): `any` retries are no longer recognised. */
  forgetIdempotency(): void {
    this.committed.clear();
  }

  /** From now on reads without `requires-leader` are served by a follower that stops here until `catchUpFollower()`. */
  freezeFollower(): void {
    this.followerHorizon = this.nextPosition;
  }

  catchUpFollower(): void {
    this.followerHorizon = undefined;
  }

  /** Appends a system event (stream and type starting with `$`), as the server's own housekeeping does. */
  writeSystemEvent(streamName = '$stats-127.0.0.1:2113', type = '$statsCollected', data: unknown = { 'proc-mem': 1 }): StoredEvent {
    const stream = this.streams.get(streamName);
    return this.write(streamName, stream ? lastRevision(stream) : -1, [
      {
        id: randomUUID(),
        type,
        contentType: 'application/json',
        data: Buffer.from(JSON.stringify(data)),
        customMetadata: new Uint8Array(),
      },
    ])[0];
  }

  private supportedMethods(): featuresPb.SupportedMethods {
    const method = (service: string, name: string, features: string[] = []) =>
      new featuresPb.SupportedMethod().setServiceName(service).setMethodName(name).setFeaturesList(features);
    const streams = 'event_store.client.streams.streams';
    return new featuresPb.SupportedMethods()
      .setEventStoreServerVersion('24.10.0')
      .setMethodsList([
        method(streams, 'append'),
        method(streams, 'batchappend', ['deadline_duration']),
        method(streams, 'read', ['position', 'events']),
        method(streams, 'delete'),
        method(streams, 'tombstone'),
      ]);
  }

  private write(streamName: string, current: number, messages: Message[]): StoredEvent[] {
    let stream = this.streams.get(streamName);
    if (!stream) {
      stream = { events: [], truncateBefore: 0, tombstoned: false };
      this.streams.set(streamName, stream);
    }
    const created = toTicks(Date.now());
    const written: StoredEvent[] = [];
    let revision = current;
    for (const m of messages) {
      revision++;
      // Byte-like positions: increasing, not contiguous, like the transaction file's offsets.
      const position = this.nextPosition;
      this.nextPosition += 128 + m.data.length + m.customMetadata.length;
      const e: StoredEvent = { ...m, streamName, revision, created, position };
      stream.events.push(e);
      this.log.push(e);
      written.push(e);
      this.remember(e);
    }
    if (streamName.startsWith('$$')) this.applyMetadata(streamName.slice(2), written[written.length - 1]);
    this.appended.emit('appended', written);
    return written;
  }

  private remember(e: StoredEvent): void {
    const max = this.options.idempotencyCacheSize ?? 100_000;
    if (max <= 0) return;
    this.committed.delete(e.id);
    this.committed.set(e.id, { streamName: e.streamName, revision: e.revision });
    if (this.committed.size > max) this.committed.delete(this.committed.keys().next().value!);
  }

  /** `$tb` and `$maxCount` of a `$metadata` event written to `$$<stream>`. */
  private applyMetadata(streamName: string, e: StoredEvent | undefined): void {
    if (!e || e.type !== '$metadata') return;
    let meta: { $tb?: number; $maxCount?: number } = {};
    try {
      meta = JSON.parse(Buffer.from(e.data).toString('utf8'));
    } catch {
      return;
    }
    let stream = this.streams.get(streamName);
    if (!stream) {
      stream = { events: [], truncateBefore: 0, tombstoned: false };
      this.streams.set(streamName, stream);
    }
    stream.truncateBefore = typeof meta.$tb === 'number' ? meta.$tb : 0;
    stream.maxCount = typeof meta.$maxCount === 'number' ? meta.$maxCount : undefined;
  }

  /** Events of a stream a read returns: after `$tb` and `$maxCount`, and up to the follower's horizon for non-leader reads. */
  private visible(stream: StreamState, leader: boolean): StoredEvent[] {
    let events = stream.events.filter((e) => e.revision >= stream.truncateBefore);
    if (stream.maxCount !== undefined) events = events.slice(Math.max(0, events.length - stream.maxCount));
    if (!leader && this.followerHorizon !== undefined) events = events.filter((e) => e.position < this.followerHorizon!);
    return events;
  }

  // ---- Append and BatchAppend ---------------------------------------------------------------------

  /** Consumes a one-shot fault counter, if the request is one the fault is aimed at. */
  private take(fault: 'commitThenTimeout' | 'notReady' | 'notLeader', request: { kind: 'append' | 'read'; streamName: string }): boolean {
    if (this.faults[fault] <= 0) return false;
    if (this.faults.when && !this.faults.when(request)) return false;
    this.faults[fault]--;
    return true;
  }

  /** One write request, decided as the server's index writer decides a commit. */
  private decideWrite(streamName: string, expected: Expected, messages: Message[]): WriteOutcome {
    this.stats.appends++;
    const request = { kind: 'append', streamName } as const;
    countByKind(this.stats.appendsByStreamKind, streamName);
    if (this.take('notReady', request)) return { kind: 'not-ready' };
    if (this.take('notLeader', request)) return { kind: 'not-leader' };
    let size = 0;
    for (const m of messages) size += m.data.length + m.customMetadata.length + m.type.length * 2;
    this.stats.largestAppendBytes = Math.max(this.stats.largestAppendBytes, size);
    if (this.maxAppendSize > 0 && size > this.maxAppendSize) return { kind: 'too-large' };
    const stream = this.streams.get(streamName);
    if (stream?.tombstoned) return { kind: 'stream-deleted' };
    const current = stream ? lastRevision(stream) : -1;
    const softDeleted = stream !== undefined && stream.events.length > 0 && stream.truncateBefore > current;

    if (messages.length > 0) {
      const repeat = this.idempotent(streamName, stream, current, expected, messages);
      if (repeat) return repeat;
    }
    if (expected.kind === 'stream_exists' && softDeleted) return { kind: 'stream-deleted' };
    const ok =
      expected.kind === 'any' ||
      (expected.kind === 'no_stream' && (current === -1 || softDeleted)) ||
      (expected.kind === 'stream_exists' && current >= 0) ||
      (expected.kind === 'revision' && expected.revision === current);
    if (!ok) return { kind: 'wrong-expected-version', current };
    if (messages.length === 0) return { kind: 'success', revision: current, noStream: current < 0 };
    const written = this.write(streamName, current, messages);
    if (softDeleted) {
      // recreating a soft-deleted stream keeps the old events hidden
      stream!.truncateBefore = written[0].revision;
    }
    if (
      !streamName.startsWith('$') &&
      this.options.systemEventEvery !== 0 &&
      ++this.appendsSinceSystemEvent >= (this.options.systemEventEvery ?? 3)
    ) {
      this.appendsSinceSystemEvent = 0;
      this.writeSystemEvent();
    }
    const last = written[written.length - 1];
    if (this.take('commitThenTimeout', request)) return { kind: 'timeout' };
    return { kind: 'success', revision: last.revision, first: written[0], last };
  }

  /**
   * The server's idempotency: with `any` / `stream_exists`, every id must be in the commit cache for
   * this stream (the first one missing means a new write; a later one, corrupted idempotency); with
   * an exact revision or `no_stream`, the ids must sit right after the expected revision.
   */
  private idempotent(
    streamName: string,
    stream: StreamState | undefined,
    current: number,
    expected: Expected,
    messages: Message[],
  ): WriteOutcome | undefined {
    if (!stream) return undefined;
    if (expected.kind === 'any' || expected.kind === 'stream_exists') {
      const hits = messages.map((m) => this.committed.get(m.id));
      if (!hits[0] || hits[0].streamName !== streamName) return undefined;
      if (hits.some((h) => !h || h.streamName !== streamName)) return { kind: 'wrong-expected-version', current };
      const first = stream.events.find((e) => e.revision === hits[0]!.revision);
      const last = stream.events.find((e) => e.revision === hits[hits.length - 1]!.revision);
      return { kind: 'success', revision: last!.revision, first, last };
    }
    const from = expected.kind === 'no_stream' ? -1 : expected.revision;
    if (from >= current) return undefined;
    const at = (revision: number) => stream.events.find((e) => e.revision === revision);
    if (at(from + 1)?.id !== messages[0].id) return undefined;
    if (!messages.every((m, i) => at(from + 1 + i)?.id === m.id)) return { kind: 'wrong-expected-version', current };
    return { kind: 'success', revision: from + messages.length, first: at(from + 1), last: at(from + messages.length) };
  }

  private onAppend(call: AppendCall, callback: grpc.sendUnaryData<pb.AppendResp>): void {
    this.stats.appendCalls++;
    let options: pb.AppendReq.Options | undefined;
    const proposed: pb.AppendReq.ProposedMessage[] = [];
    let failed = false;
    call.on('data', (req: pb.AppendReq) => {
      if (req.hasOptions()) options = req.getOptions();
      else if (req.hasProposedMessage()) proposed.push(req.getProposedMessage()!);
    });
    call.on('error', () => {
      failed = true;
    });
    call.on('end', () => {
      if (failed) return;
      if (!options) return callback({ code: grpc.status.INVALID_ARGUMENT, details: 'append without options' });
      try {
        const streamName = nameOf(options.getStreamIdentifier());
        const C = pb.AppendReq.Options.ExpectedStreamRevisionCase;
        const c = options.getExpectedStreamRevisionCase();
        const expected: Expected =
          c === C.REVISION
            ? { kind: 'revision', revision: Number(options.getRevision()) }
            : c === C.NO_STREAM
              ? { kind: 'no_stream' }
              : c === C.STREAM_EXISTS
                ? { kind: 'stream_exists' }
                : { kind: 'any' };
        const outcome = this.decideWrite(streamName, expected, proposed.map(toMessage));
        if (outcome.kind === 'success') return callback(null, appendSuccess(outcome));
        if (outcome.kind === 'wrong-expected-version') return callback(null, wrongExpectedVersion(expected, outcome.current));
        callback(this.statusError(outcome.kind, streamName));
      } catch (err) {
        callback({ code: grpc.status.INTERNAL, details: (err as Error).message });
      }
    });
  }

  /** Append's failures as the server raises them (RpcExceptions): a status with `exception` metadata. */
  private statusError(kind: Exclude<WriteOutcome['kind'], 'success' | 'wrong-expected-version'>, streamName: string): grpc.ServiceError {
    switch (kind) {
      case 'too-large':
        return grpcError(grpc.status.INVALID_ARGUMENT, `Maximum Append Size of ${this.maxAppendSize} Exceeded.`, {
          exception: 'maximum-append-size-exceeded',
          'maximum-append-size': String(this.maxAppendSize),
        });
      case 'stream-deleted':
        return grpcError(grpc.status.FAILED_PRECONDITION, `Event stream '${streamName}' is deleted.`, {
          exception: 'stream-deleted',
          'stream-name': streamName,
        });
      case 'timeout':
        return grpcError(grpc.status.ABORTED, 'Operation timed out: Commit phase timeout.');
      case 'not-ready':
        return grpcError(grpc.status.UNAVAILABLE, 'Server Is Not Ready');
      case 'not-leader':
        return this.notLeaderError();
    }
  }

  private notLeaderError(): grpc.ServiceError {
    const leader = this.faults.leader ?? { host: '127.0.0.1', port: this.port };
    return grpcError(grpc.status.NOT_FOUND, 'Leader info available', {
      exception: 'not-leader',
      'leader-endpoint-host': leader.host,
      'leader-endpoint-port': String(leader.port),
    });
  }

  /**
   * BatchAppend: write requests identified by a correlation id, each in one or more messages (the
   * first with options, the last marked final); one response per write request, in completion order.
   */
  private onBatchAppend(call: BatchAppendCall): void {
    this.stats.batchAppendCalls++;
    const pending = new Map<string, { streamName: string; expected: Expected; messages: Message[]; identifier: shared.StreamIdentifier }>();
    let ended = false;
    call.on('data', (req: pb.BatchAppendReq) => {
      if (ended) return;
      const correlation = req.getCorrelationId();
      const key = uuidOf(correlation);
      if (req.hasOptions()) {
        const o = req.getOptions()!;
        const P = pb.BatchAppendReq.Options.ExpectedStreamPositionCase;
        const c = o.getExpectedStreamPositionCase();
        const expected: Expected =
          c === P.STREAM_POSITION
            ? { kind: 'revision', revision: Number(o.getStreamPosition()) }
            : c === P.NO_STREAM
              ? { kind: 'no_stream' }
              : c === P.STREAM_EXISTS
                ? { kind: 'stream_exists' }
                : { kind: 'any' };
        pending.set(key, { streamName: nameOf(o.getStreamIdentifier()), expected, messages: [], identifier: o.getStreamIdentifier()! });
      }
      const request = pending.get(key);
      if (!request) return;
      request.messages.push(...req.getProposedMessagesList().map(toMessage));
      if (!req.getIsFinal()) return;
      pending.delete(key);
      const outcome = this.decideWrite(request.streamName, request.expected, request.messages);
      if (outcome.kind === 'not-leader') {
        // the server throws LeaderInfo inside the completion callback: the whole call ends with it
        ended = true;
        call.emit('error', this.notLeaderError());
        return;
      }
      const resp = new pb.BatchAppendResp().setCorrelationId(correlation).setStreamIdentifier(request.identifier);
      if (outcome.kind === 'success') {
        const s = new pb.BatchAppendResp.Success();
        if (outcome.noStream) s.setNoStream(new shared.Empty());
        else s.setCurrentRevision(String(outcome.revision));
        if (outcome.last)
          s.setPosition(
            new shared.AllStreamPosition()
              .setCommitPosition(String(outcome.last.position))
              .setPreparePosition(String(outcome.first!.position)),
          );
        else s.setNoPosition(new shared.Empty());
        resp.setSuccess(s);
      } else {
        resp.setError(this.batchStatus(outcome, request.expected, request.identifier));
      }
      call.write(resp);
    });
    call.on('end', () => {
      if (!ended) call.end();
    });
    call.on('error', () => {
      ended = true;
    });
  }

  /** BatchAppend's failures as the server answers them: a google.rpc.Status with a packed detail. */
  private batchStatus(outcome: WriteOutcome, expected: Expected, identifier: shared.StreamIdentifier): statusPb.Status {
    const status = (code: number, message: string, detail: { serializeBinary(): Uint8Array }, typeName: string) => {
      const any = new Any();
      any.pack(detail.serializeBinary(), typeName);
      return new statusPb.Status().setCode(code).setMessage(message).setDetails(any);
    };
    switch (outcome.kind) {
      case 'wrong-expected-version': {
        const w = new shared.WrongExpectedVersion();
        if (outcome.current >= 0) w.setCurrentStreamRevision(String(outcome.current));
        else w.setCurrentNoStream(new shared.Empty());
        if (expected.kind === 'revision') w.setExpectedStreamPosition(String(expected.revision));
        else if (expected.kind === 'no_stream') w.setExpectedNoStream(new shared.Empty());
        else if (expected.kind === 'stream_exists') w.setExpectedStreamExists(new shared.Empty());
        else w.setExpectedAny(new shared.Empty());
        return status(grpc.status.ALREADY_EXISTS, 'WrongExpectedVersion', w, 'event_store.client.WrongExpectedVersion');
      }
      case 'too-large':
        return status(
          grpc.status.INVALID_ARGUMENT,
          'MaximumAppendSizeExceeded',
          new shared.MaximumAppendSizeExceeded().setMaxappendsize(this.maxAppendSize),
          'event_store.client.MaximumAppendSizeExceeded',
        );
      case 'stream-deleted':
        return status(
          grpc.status.NOT_FOUND,
          'StreamDeleted',
          new shared.StreamDeleted().setStreamIdentifier(identifier),
          'event_store.client.StreamDeleted',
        );
      case 'timeout':
        return status(grpc.status.DEADLINE_EXCEEDED, 'Timeout', new shared.Timeout(), 'event_store.client.Timeout');
      case 'not-ready':
        // NotHandled(NotReady): no code, an empty detail: the client cannot recognise it
        return status(grpc.status.OK, 'Server Is Not Ready', new shared.Empty(), 'google.protobuf.Empty');
      default:
        return status(grpc.status.UNKNOWN, 'Unknown', new shared.Unknown(), 'event_store.client.Unknown');
    }
  }

  // ---- Delete and Tombstone -----------------------------------------------------------------------

  private onDelete(call: grpc.ServerUnaryCall<pb.DeleteReq, pb.DeleteResp>, cb: grpc.sendUnaryData<pb.DeleteResp>): void {
    const o = call.request.getOptions()!;
    const streamName = nameOf(o.getStreamIdentifier());
    const stream = this.streams.get(streamName);
    if (stream?.tombstoned) return cb(this.statusError('stream-deleted', streamName));
    const current = stream ? lastRevision(stream) : -1;
    if (o.hasRevision() && Number(o.getRevision()) !== current)
      return cb(wrongExpectedVersionError(streamName, Number(o.getRevision()), current));
    // soft delete: the metadata's truncate-before moves past the last event
    const meta = this.writeMetadata(streamName, { $tb: current + 1 });
    cb(
      null,
      new pb.DeleteResp().setPosition(
        new pb.DeleteResp.Position().setCommitPosition(String(meta.position)).setPreparePosition(String(meta.position)),
      ),
    );
  }

  private onTombstone(call: grpc.ServerUnaryCall<pb.TombstoneReq, pb.TombstoneResp>, cb: grpc.sendUnaryData<pb.TombstoneResp>): void {
    const o = call.request.getOptions()!;
    const streamName = nameOf(o.getStreamIdentifier());
    const stream = this.streams.get(streamName) ?? { events: [], truncateBefore: 0, tombstoned: false };
    this.streams.set(streamName, stream);
    if (stream.tombstoned) return cb(this.statusError('stream-deleted', streamName));
    const current = lastRevision(stream);
    if (o.hasRevision() && Number(o.getRevision()) !== current)
      return cb(wrongExpectedVersionError(streamName, Number(o.getRevision()), current));
    stream.tombstoned = true;
    const position = this.nextPosition;
    this.nextPosition += 128;
    cb(
      null,
      new pb.TombstoneResp().setPosition(
        new pb.TombstoneResp.Position().setCommitPosition(String(position)).setPreparePosition(String(position)),
      ),
    );
  }

  private writeMetadata(streamName: string, meta: Record<string, unknown>): StoredEvent {
    const metaStream = `$$${streamName}`;
    const existing = this.streams.get(metaStream);
    const previous = existing?.events[existing.events.length - 1];
    const merged = { ...(previous ? JSON.parse(Buffer.from(previous.data).toString('utf8')) : {}), ...meta };
    return this.write(metaStream, existing ? lastRevision(existing) : -1, [
      {
        id: randomUUID(),
        type: '$metadata',
        contentType: 'application/json',
        data: Buffer.from(JSON.stringify(merged)),
        customMetadata: new Uint8Array(),
      },
    ])[0];
  }

  // ---- Read ---------------------------------------------------------------------------------------

  private onRead(call: ReadCall): void {
    const options = call.request.getOptions();
    if (!options) {
      call.emit('error', grpcError(grpc.status.INVALID_ARGUMENT, 'read without options'));
      return;
    }
    const leader = call.metadata.get('requires-leader')[0] === 'true';
    if (options.hasAll() && this.faults.denyAllRead) {
      call.emit('error', grpcError(grpc.status.PERMISSION_DENIED, 'Access Denied', { exception: 'access-denied' }));
      return;
    }
    const O = pb.ReadReq.Options;
    const forwards = options.getReadDirection() === O.ReadDirection.FORWARDS;
    const filter = compileFilter(options);
    if (options.hasSubscription()) {
      if (!options.hasAll()) call.emit('error', grpcError(grpc.status.UNIMPLEMENTED, 'the double serves subscriptions to $all only'));
      else this.subscribeToAll(call, options, filter);
      return;
    }
    this.stats.reads++;
    if (leader) this.stats.leaderReads++;
    const request = {
      kind: 'read',
      streamName: options.hasStream() ? nameOf(options.getStream()!.getStreamIdentifier()) : '$all',
    } as const;
    countByKind(this.stats.readsByStreamKind, request.streamName);
    if (this.take('notReady', request)) {
      call.emit('error', grpcError(grpc.status.UNAVAILABLE, 'Server Is Not Ready'));
      return;
    }
    if (leader && this.take('notLeader', request)) {
      call.emit('error', this.notLeaderError());
      return;
    }
    const count = options.hasCount() ? Number(options.getCount()) : Number.MAX_SAFE_INTEGER;
    let events: StoredEvent[];
    let fromAll = false;
    if (options.hasStream()) {
      const so = options.getStream()!;
      const streamName = nameOf(so.getStreamIdentifier());
      const stream = this.streams.get(streamName);
      if (stream?.tombstoned) {
        call.emit('error', this.statusError('stream-deleted', streamName));
        return;
      }
      const shown = stream ? this.visible(stream, leader) : [];
      if (shown.length === 0) {
        const nf = new pb.ReadResp.StreamNotFound();
        nf.setStreamIdentifier(so.getStreamIdentifier());
        call.write(new pb.ReadResp().setStreamNotFound(nf));
        call.end();
        return;
      }
      const S = O.StreamOptions.RevisionOptionCase;
      const c = so.getRevisionOptionCase();
      const last = shown[shown.length - 1].revision;
      const from = c === S.REVISION ? Number(so.getRevision()) : c === S.END ? (forwards ? last + 1 : last) : forwards ? 0 : -1;
      events = forwards ? shown.filter((e) => e.revision >= from) : shown.filter((e) => e.revision <= from).reverse();
    } else {
      const ao = options.getAll()!;
      const A = O.AllOptions.AllOptionCase;
      const c = ao.getAllOptionCase();
      const log = !leader && this.followerHorizon !== undefined ? this.log.filter((e) => e.position < this.followerHorizon!) : this.log;
      if (forwards) {
        const from = c === A.POSITION ? Number(ao.getPosition()!.getCommitPosition()) : c === A.END ? Infinity : -1;
        events = log.filter((e) => e.position >= from);
      } else {
        const before = c === A.POSITION ? Number(ao.getPosition()!.getCommitPosition()) : c === A.START ? -1 : Infinity;
        events = log.filter((e) => e.position < before).reverse();
      }
      fromAll = true;
    }
    let sent = 0;
    for (const e of events) {
      if (sent >= count) break;
      if (filter && !filter.allows(e)) continue;
      call.write(readEvent(e, fromAll));
      sent++;
    }
    call.end();
  }

  private subscribeToAll(call: ReadCall, options: pb.ReadReq.Options, filter: CompiledFilter | undefined): void {
    this.stats.subscriptions++;
    const ao = options.getAll()!;
    const A = pb.ReadReq.Options.AllOptions.AllOptionCase;
    const c = ao.getAllOptionCase();
    // Subscriptions start strictly after the given position.
    const after = c === A.POSITION ? Number(ao.getPosition()!.getCommitPosition()) : c === A.END ? this.nextPosition : -1;
    let open = true;
    const live: StoredEvent[] = [];
    let catchingUp = true;
    const onAppended = (written: StoredEvent[]) => {
      if (catchingUp) live.push(...written);
      else for (const e of written) send(e);
    };
    const onStopped = () => close();
    const close = () => {
      if (!open) return;
      open = false;
      this.appended.off('appended', onAppended);
      this.appended.off('stopped', onStopped);
    };
    call.on('cancelled', close);
    call.on('close', close);
    call.on('error', close);
    this.appended.on('appended', onAppended);
    this.appended.on('stopped', onStopped);

    let considered = 0;
    const window = filter ? (filter.max ?? DEFAULT_SEARCH_WINDOW) * Math.max(1, filter.checkpointMultiplier) : 0;
    const send = (e: StoredEvent) => {
      if (!open || e.position <= after) return;
      if (filter) {
        considered++;
        if (filter.allows(e)) call.write(readEvent(e, true));
        if (considered % window === 0) {
          const cp = new pb.ReadResp.Checkpoint();
          cp.setCommitPosition(String(e.position));
          cp.setPreparePosition(String(e.position));
          call.write(new pb.ReadResp().setCheckpoint(cp));
        }
      } else {
        call.write(readEvent(e, true));
      }
    };

    const confirmation = new pb.ReadResp.SubscriptionConfirmation();
    confirmation.setSubscriptionId(randomUUID());
    call.write(new pb.ReadResp().setConfirmation(confirmation));
    // Catch-up happens on a later turn, as on a real server (the client is already listening).
    setImmediate(() => {
      if (!open) return;
      const history = this.log.slice();
      for (const e of history) send(e);
      call.write(new pb.ReadResp().setCaughtUp(new pb.ReadResp.CaughtUp()));
      catchingUp = false;
      const lastHistoric = history.length > 0 ? history[history.length - 1].position : -1;
      for (const e of live.splice(0)) if (e.position > lastHistoric) send(e);
    });
  }
}

// ---- helpers ----------------------------------------------------------------------------------------

function nameOf(id: shared.StreamIdentifier | undefined): string {
  return Buffer.from(id!.getStreamName_asU8()).toString('utf8');
}

function lastRevision(stream: StreamState): number {
  return stream.events.length > 0 ? stream.events[stream.events.length - 1].revision : -1;
}

function toMessage(m: pb.AppendReq.ProposedMessage | pb.BatchAppendReq.ProposedMessage): Message {
  const meta = m.getMetadataMap();
  return {
    id: uuidOf(m.getId()),
    type: meta.get('type') ?? '',
    contentType: meta.get('content-type') ?? 'application/octet-stream',
    data: m.getData_asU8(),
    customMetadata: m.getCustomMetadata_asU8(),
  };
}

function uuidOf(id: shared.UUID | undefined): string {
  if (!id) return randomUUID();
  if (id.hasString()) return id.getString();
  const s = id.getStructured()!;
  const buf = Buffer.alloc(16);
  buf.writeBigUInt64BE(BigInt.asUintN(64, BigInt(s.getMostSignificantBits())), 0);
  buf.writeBigUInt64BE(BigInt.asUintN(64, BigInt(s.getLeastSignificantBits())), 8);
  const h = buf.toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function appendSuccess(outcome: Extract<WriteOutcome, { kind: 'success' }>): pb.AppendResp {
  const s = new pb.AppendResp.Success();
  if (outcome.noStream) s.setNoStream(new shared.Empty());
  else s.setCurrentRevision(String(outcome.revision));
  if (outcome.first && outcome.last) {
    const p = new pb.AppendResp.Position();
    p.setCommitPosition(String(outcome.last.position));
    p.setPreparePosition(String(outcome.first.position));
    s.setPosition(p);
  } else {
    s.setNoPosition(new shared.Empty());
  }
  return new pb.AppendResp().setSuccess(s);
}

function wrongExpectedVersion(expected: Expected, current: number): pb.AppendResp {
  const w = new pb.AppendResp.WrongExpectedVersion();
  if (current >= 0) w.setCurrentRevision(String(current));
  else w.setCurrentNoStream(new shared.Empty());
  switch (expected.kind) {
    case 'revision':
      w.setExpectedRevision(String(expected.revision));
      break;
    case 'no_stream':
      w.setExpectedNoStream(new shared.Empty());
      break;
    case 'stream_exists':
      w.setExpectedStreamExists(new shared.Empty());
      break;
    default:
      w.setExpectedAny(new shared.Empty());
  }
  return new pb.AppendResp().setWrongExpectedVersion(w);
}

/** Delete and Tombstone refuse a wrong expected revision with a status error (RpcExceptions.WrongExpectedVersion). */
function wrongExpectedVersionError(streamName: string, expected: number, current: number): grpc.ServiceError {
  return grpcError(grpc.status.FAILED_PRECONDITION, `Delete failed due to WrongExpectedVersion. Stream: ${streamName}`, {
    exception: 'wrong-expected-version',
    'stream-name': streamName,
    'expected-version': String(expected),
    'actual-version': String(current),
  });
}

function readEvent(e: StoredEvent, fromAll: boolean): pb.ReadResp {
  const r = new pb.ReadResp.ReadEvent.RecordedEvent();
  r.setId(new shared.UUID().setString(e.id));
  r.setStreamIdentifier(new shared.StreamIdentifier().setStreamName(Uint8Array.from(Buffer.from(e.streamName, 'utf8'))));
  r.setStreamRevision(String(e.revision));
  r.setCommitPosition(String(e.position));
  r.setPreparePosition(String(e.position));
  const meta = r.getMetadataMap();
  meta.set('type', e.type);
  meta.set('content-type', e.contentType);
  meta.set('created', e.created);
  r.setCustomMetadata(e.customMetadata);
  r.setData(e.data);
  const ev = new pb.ReadResp.ReadEvent();
  ev.setEvent(r);
  if (fromAll) ev.setCommitPosition(String(e.position));
  else ev.setNoPosition(new shared.Empty());
  return new pb.ReadResp().setEvent(ev);
}

interface CompiledFilter {
  allows(e: StoredEvent): boolean;
  max?: number;
  checkpointMultiplier: number;
}

function compileFilter(options: pb.ReadReq.Options): CompiledFilter | undefined {
  if (!options.hasFilter()) return undefined;
  const f = options.getFilter()!;
  const onStream = f.hasStreamIdentifier();
  const expr = onStream ? f.getStreamIdentifier()! : f.getEventType()!;
  const regex = expr.getRegex() ? new RegExp(expr.getRegex()) : undefined;
  const prefixes = expr.getPrefixList();
  const field = (e: StoredEvent) => (onStream ? e.streamName : e.type);
  return {
    allows: (e) => {
      const v = field(e);
      if (regex && !regex.test(v)) return false;
      if (prefixes.length > 0 && !prefixes.some((p) => v.startsWith(p))) return false;
      return true;
    },
    max: f.hasMax() ? f.getMax() : undefined,
    checkpointMultiplier: f.getCheckpointintervalmultiplier() || 1,
  };
}

function grpcError(code: grpc.status, details: string, metadata: Record<string, string> = {}): grpc.ServiceError {
  const md = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) md.set(k, v);
  return Object.assign(new Error(details), { code, details, metadata: md });
}

/** `cem-internal-eventid-<uuid>` -> `cem-internal-eventid`, `customer-<id>` -> `customer`: what a counter is kept under. */
function countByKind(counts: Record<string, number>, streamName: string): void {
  const kind = streamName.startsWith('$') ? streamName : streamName.replace(/^((?:cem-internal-)?[a-z]+(?:-[a-z]+)*?)-.*$/, '$1');
  counts[kind] = (counts[kind] ?? 0) + 1;
}
