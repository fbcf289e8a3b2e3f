/**
 * An in-process double of EventStoreDB's gRPC Streams service, for tests only (never in the product).
 *
 * It is built on the client's own generated service definition and message classes
 * (`@eventstore/db-client/generated/streams_grpc_pb`, `streams_pb`, `shared_pb`): the client's
 * serializers check `instanceof` against the module it loads itself, so responses are built from
 * that very module. It is faithful to the server on what the platform uses:
 *
 * - `Streams.Append` (client streaming: options, then proposed messages) with the expected-revision
 *   rules `any` / `no_stream` / `stream_exists` / exact, answering `wrong_expected_version` with the
 *   current and expected revision; duplicate event ids within a stream are idempotent the way the
 *   server does it (the whole batch already sits where the expected revision says, or, with `any`,
 *   anywhere in the stream) and a half-repeated batch is refused as wrong expected version;
 * - `Streams.Read` for a stream (inclusive start revision, forwards or backwards, `stream_not_found`)
 *   and for `$all` (forwards inclusive of the start position, backwards exclusive of it);
 * - catch-up subscriptions to `$all` (exclusive start position; optional stream-name or event-type
 *   filter with checkpoints) in the server's order: confirmation, catch-up events, caught-up, live;
 * - recorded events carry the system metadata `type`, `content-type` and `created` (.NET ticks), and
 *   commit = prepare position per event (implicit transactions); an append answers the last event's
 *   position as commit and the first event's as prepare, as the server does;
 * - `$all` holds system events (`$`-prefixed streams and types) besides the tests' own.
 *
 * `ServerFeatures` is not served, so the client finds `GetSupportedMethods` unimplemented and appends
 * through `Streams.Append` (no `BatchAppend`). The log lives in the `EsdbDouble` object and survives
 * `stop()` / `start()`, so a test can take the "server" away and bring it back on the same port.
 */
import * as grpc from '@grpc/grpc-js';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
// The client's generated code: the same module instances the client itself loads.
import * as streamsGrpc from '@eventstore/db-client/generated/streams_grpc_pb';
import * as pb from '@eventstore/db-client/generated/streams_pb';
import * as shared from '@eventstore/db-client/generated/shared_pb';

export interface StoredEvent {
  streamName: string;
  revision: number;
  id: string;
  type: string;
  contentType: string;
  data: Uint8Array;
  customMetadata: Uint8Array;
  /** .NET ticks (100 ns since 0001-01-01) as a decimal string */
  created: string;
  position: number;
}

export interface EsdbDoubleOptions {
  /** fixed port (to restart on the same address); default: an ephemeral port chosen at first start */
  port?: number;
  /** write a system event into `$all` after every N appends (0: never); default 3 */
  systemEventEvery?: number;
}

/** .NET ticks of the Unix epoch */
const EPOCH_TICKS = 621355968000000000n;
const toTicks = (ms: number): string => (BigInt(ms) * 10000n + EPOCH_TICKS).toString();

/** Events a filter looks at per checkpoint window when the client asks for `count`. */
const DEFAULT_SEARCH_WINDOW = 32;

type AppendCall = grpc.ServerReadableStream<pb.AppendReq, pb.AppendResp>;
type ReadCall = grpc.ServerWritableStream<pb.ReadReq, pb.ReadResp>;

export class EsdbDouble {
  readonly log: StoredEvent[] = [];
  private readonly streams = new Map<string, StoredEvent[]>();
  private readonly appended = new EventEmitter();
  private nextPosition = 0;
  private appendsSinceSystemEvent = 0;
  private server?: grpc.Server;
  private boundPort?: number;
  /** counters a test can look at */
  readonly stats = { appends: 0, reads: 0, subscriptions: 0 };

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

  async start(): Promise<string> {
    if (this.server) return this.connectionString;
    const server = new grpc.Server();
    server.addService(streamsGrpc.StreamsService, {
      append: (call: AppendCall, callback: grpc.sendUnaryData<pb.AppendResp>) => this.onAppend(call, callback),
      read: (call: ReadCall) => this.onRead(call),
    } as unknown as grpc.UntypedServiceImplementation);
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

  /** Appends a system event (stream and type starting with `$`), as the server's own housekeeping does. */
  writeSystemEvent(streamName = '$stats-127.0.0.1:2113', type = '$statsCollected', data: unknown = { 'proc-mem': 1 }): StoredEvent {
    const stream = this.streams.get(streamName) ?? [];
    return this.write(streamName, stream.length - 1, [
      {
        id: randomUUID(),
        type,
        contentType: 'application/json',
        data: Buffer.from(JSON.stringify(data)),
        customMetadata: new Uint8Array(),
      },
    ])[0];
  }

  private write(
    streamName: string,
    current: number,
    messages: Omit<StoredEvent, 'streamName' | 'revision' | 'created' | 'position'>[],
  ): StoredEvent[] {
    let stream = this.streams.get(streamName);
    if (!stream) {
      stream = [];
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
      stream.push(e);
      this.log.push(e);
      written.push(e);
    }
    this.appended.emit('appended', written);
    return written;
  }

  // ---- Append -------------------------------------------------------------------------------------

  private onAppend(call: AppendCall, callback: grpc.sendUnaryData<pb.AppendResp>): void {
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
        callback(null, this.append(options, proposed));
      } catch (err) {
        callback({ code: grpc.status.INTERNAL, details: (err as Error).message });
      }
    });
  }

  private append(options: pb.AppendReq.Options, proposed: pb.AppendReq.ProposedMessage[]): pb.AppendResp {
    this.stats.appends++;
    const streamName = Buffer.from(options.getStreamIdentifier()!.getStreamName_asU8()).toString('utf8');
    const stream = this.streams.get(streamName) ?? [];
    const current = stream.length - 1;
    const C = pb.AppendReq.Options.ExpectedStreamRevisionCase;
    const expectedCase = options.getExpectedStreamRevisionCase();
    const expected = expectedCase === C.REVISION ? Number(options.getRevision()) : expectedCase === C.NO_STREAM ? -1 : undefined;
    const messages = proposed.map((m) => {
      const meta = m.getMetadataMap();
      return {
        id: uuidOf(m.getId()),
        type: meta.get('type') ?? '',
        contentType: meta.get('content-type') ?? 'application/octet-stream',
        data: m.getData_asU8(),
        customMetadata: m.getCustomMetadata_asU8(),
      };
    });

    // Idempotency as the server does it: the batch is already there, in order, where the expected
    // revision puts it (exact / no_stream), or anywhere in the stream (any / stream_exists).
    if (messages.length > 0) {
      let start = -1;
      if (expected !== undefined && expected < current) start = expected + 1;
      else if (expected === undefined) start = stream.findIndex((e) => e.id === messages[0].id);
      if (start >= 0 && stream[start]?.id === messages[0].id && !(expectedCase === C.STREAM_EXISTS && current < 0)) {
        const matches = messages.every((m, i) => stream[start + i]?.id === m.id);
        if (matches) return success(stream[start + messages.length - 1].revision, stream[start], stream[start + messages.length - 1]);
        return wrongExpectedVersion(expectedCase, options, current); // corrupted idempotency
      }
    }

    const ok =
      expectedCase === C.ANY ||
      (expectedCase === C.NO_STREAM && current === -1) ||
      (expectedCase === C.STREAM_EXISTS && current >= 0) ||
      (expectedCase === C.REVISION && expected === current);
    if (!ok) return wrongExpectedVersion(expectedCase, options, current);
    if (messages.length === 0) {
      const resp = new pb.AppendResp();
      const s = new pb.AppendResp.Success();
      if (current >= 0) s.setCurrentRevision(String(current));
      else s.setNoStream(new shared.Empty());
      s.setNoPosition(new shared.Empty());
      return resp.setSuccess(s);
    }
    const written = this.write(streamName, current, messages);
    if (
      !streamName.startsWith('$') &&
      this.options.systemEventEvery !== 0 &&
      ++this.appendsSinceSystemEvent >= (this.options.systemEventEvery ?? 3)
    ) {
      this.appendsSinceSystemEvent = 0;
      this.writeSystemEvent();
    }
    return success(written[written.length - 1].revision, written[0], written[written.length - 1]);
  }

  // ---- Read ---------------------------------------------------------------------------------------

  private onRead(call: ReadCall): void {
    const options = call.request.getOptions();
    if (!options) {
      call.destroy(grpcError(grpc.status.INVALID_ARGUMENT, 'read without options'));
      return;
    }
    const O = pb.ReadReq.Options;
    const forwards = options.getReadDirection() === O.ReadDirection.FORWARDS;
    const filter = compileFilter(options);
    if (options.hasSubscription()) {
      if (!options.hasAll()) call.destroy(grpcError(grpc.status.UNIMPLEMENTED, 'the double serves subscriptions to $all only'));
      else this.subscribeToAll(call, options, filter);
      return;
    }
    this.stats.reads++;
    const count = options.hasCount() ? Number(options.getCount()) : Number.MAX_SAFE_INTEGER;
    let events: StoredEvent[];
    let fromAll = false;
    if (options.hasStream()) {
      const so = options.getStream()!;
      const streamName = Buffer.from(so.getStreamIdentifier()!.getStreamName_asU8()).toString('utf8');
      const stream = this.streams.get(streamName);
      if (!stream) {
        const nf = new pb.ReadResp.StreamNotFound();
        nf.setStreamIdentifier(so.getStreamIdentifier());
        call.write(new pb.ReadResp().setStreamNotFound(nf));
        call.end();
        return;
      }
      const S = O.StreamOptions.RevisionOptionCase;
      const c = so.getRevisionOptionCase();
      const from =
        c === S.REVISION ? Number(so.getRevision()) : c === S.END ? (forwards ? stream.length : stream.length - 1) : forwards ? 0 : -1;
      events = forwards ? stream.filter((e) => e.revision >= from) : stream.filter((e) => e.revision <= from).reverse();
    } else {
      const ao = options.getAll()!;
      const A = O.AllOptions.AllOptionCase;
      const c = ao.getAllOptionCase();
      if (forwards) {
        const from = c === A.POSITION ? Number(ao.getPosition()!.getCommitPosition()) : c === A.END ? Infinity : -1;
        events = this.log.filter((e) => e.position >= from);
      } else {
        const before = c === A.POSITION ? Number(ao.getPosition()!.getCommitPosition()) : c === A.START ? -1 : Infinity;
        events = this.log.filter((e) => e.position < before).reverse();
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

function success(currentRevision: number, first: StoredEvent, last: StoredEvent): pb.AppendResp {
  const s = new pb.AppendResp.Success();
  s.setCurrentRevision(String(currentRevision));
  const p = new pb.AppendResp.Position();
  p.setCommitPosition(String(last.position));
  p.setPreparePosition(String(first.position));
  s.setPosition(p);
  return new pb.AppendResp().setSuccess(s);
}

function wrongExpectedVersion(
  expectedCase: pb.AppendReq.Options.ExpectedStreamRevisionCase,
  options: pb.AppendReq.Options,
  current: number,
): pb.AppendResp {
  const C = pb.AppendReq.Options.ExpectedStreamRevisionCase;
  const w = new pb.AppendResp.WrongExpectedVersion();
  if (current >= 0) w.setCurrentRevision(String(current));
  else w.setCurrentNoStream(new shared.Empty());
  switch (expectedCase) {
    case C.REVISION:
      w.setExpectedRevision(options.getRevision());
      break;
    case C.NO_STREAM:
      w.setExpectedNoStream(new shared.Empty());
      break;
    case C.STREAM_EXISTS:
      w.setExpectedStreamExists(new shared.Empty());
      break;
    default:
      w.setExpectedAny(new shared.Empty());
  }
  return new pb.AppendResp().setWrongExpectedVersion(w);
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

function grpcError(code: grpc.status, details: string): Error {
  return Object.assign(new Error(details), { code, details, metadata: new grpc.Metadata() });
}
