import { Injectable } from '@nestjs/common';
import {
  Attributes,
  context,
  Context,
  Link,
  propagation,
  ROOT_CONTEXT,
  Span,
  SpanKind,
  SpanStatusCode,
  trace,
  Tracer,
  TracerProvider,
  ProxyTracerProvider,
} from '@opentelemetry/api';
import { WorkflowRegistry } from '../discovery/workflow.registry';
import type { ErrorRecord } from '../errors/classify-error';
import type {
  ActivityOutcome,
  Claim,
  RunOutcome,
  TraceCarrier,
} from '../queue/claimed-run';
import { attemptOutcome } from './underway-metrics';
import {
  MESSAGING_SYSTEM,
  SPAN_ATTRIBUTE,
  SPAN_NAME,
  TRACER_NAME,
} from './trace-names';

/**
 * Underway's traces, through `@opentelemetry/api` only (tracer
 * `@underway/nestjs`).
 *
 * - An enqueue (`enqueue`, `enqueueMany`, `redrive`) runs in a `PRODUCER`
 *   span, a child of the caller's active context, and hands the statement
 *   that writes the runs that span's W3C context (`traceparent`,
 *   `tracestate`) to store with them, in the same INSERT, so in the caller's
 *   transaction.
 * - Each step attempt and each activity attempt runs in a `CONSUMER` span
 *   whose parent is that stored context, and which links to it (messaging
 *   conventions: the link says "this processes that message"; the parent
 *   keeps one trace from the request to the last step, in whichever process
 *   claims it, after a crash and reclaim too). The user's code runs inside
 *   the span's context, so its own spans (HTTP, SQL) nest under the attempt.
 *
 * Without an SDK the global tracer provider has no delegate: then no span is
 * made and nothing is injected (the runs' `trace_context` stays NULL), and
 * every method returns at once. The provider is looked up when the module is
 * created: start the SDK first (OpenTelemetry's own advice), or traces stay
 * off, as metrics do.
 */
@Injectable()
export class UnderwayTracing {
  private readonly tracer: Tracer | undefined;

  constructor(private readonly registry: WorkflowRegistry) {
    this.tracer = isNoopTracerProvider(trace.getTracerProvider())
      ? undefined
      : trace.getTracer(TRACER_NAME);
  }

  /** False when no OpenTelemetry SDK is installed (every method is a no-op). */
  get enabled(): boolean {
    return this.tracer !== undefined;
  }

  /**
   * Runs `write` (the statement that inserts the runs) in the `PRODUCER` span
   * `underway.enqueue <workflow>`; off, calls `write(null)` and nothing else.
   * @param write gets the trace context to store, JSON text, or `null` (no propagator)
   * @param runIdOf the run id to record, for a single run
   */
  enqueue<T>(
    workflowName: string,
    count: number,
    write: (traceContext: string | null) => Promise<T>,
    runIdOf?: (result: T) => string,
  ): Promise<T> {
    if (!this.tracer) {
      return write(null);
    }
    const attributes: Attributes = {
      [SPAN_ATTRIBUTE.workflow]: workflowName,
      [SPAN_ATTRIBUTE.messagingSystem]: MESSAGING_SYSTEM,
      [SPAN_ATTRIBUTE.messagingOperationType]: 'send',
      [SPAN_ATTRIBUTE.messagingDestination]: workflowName,
    };
    if (!runIdOf) {
      attributes[SPAN_ATTRIBUTE.messagingBatchCount] = count;
    }
    return this.produce(
      this.tracer,
      SPAN_NAME.enqueue(workflowName),
      attributes,
      write,
      runIdOf,
    );
  }

  /** As `enqueue`, for a redrive of dead-letter queue `queue` (span `underway.redrive <queue>`). */
  redrive<T>(
    queue: string,
    write: (traceContext: string | null) => Promise<T>,
  ): Promise<T> {
    if (!this.tracer) {
      return write(null);
    }
    return this.produce(
      this.tracer,
      SPAN_NAME.redrive(queue),
      {
        [SPAN_ATTRIBUTE.deadLetterQueue]: queue,
        [SPAN_ATTRIBUTE.messagingSystem]: MESSAGING_SYSTEM,
        [SPAN_ATTRIBUTE.messagingOperationType]: 'send',
      },
      write,
    );
  }

  /**
   * Starts the `CONSUMER` span of a claimed attempt, child of and linked to
   * the trace context stored with its run; `undefined` when off.
   */
  attemptStarted(claim: Claim): AttemptTrace | undefined {
    const tracer = this.tracer;
    if (!tracer) {
      return undefined;
    }
    const definition = this.registry.find(claim.workflowName);
    const step =
      definition?.steps[claim.stepIndex]?.method ?? String(claim.stepIndex);
    const runId = claim.kind === 'step' ? claim.id : claim.runId;
    const attributes: Attributes = {
      [SPAN_ATTRIBUTE.workflow]: claim.workflowName,
      [SPAN_ATTRIBUTE.runId]: runId,
      [SPAN_ATTRIBUTE.step]: step,
      [SPAN_ATTRIBUTE.stepIndex]: claim.stepIndex,
      [SPAN_ATTRIBUTE.attempt]: claim.attempt,
      [SPAN_ATTRIBUTE.messagingSystem]: MESSAGING_SYSTEM,
      [SPAN_ATTRIBUTE.messagingOperationType]: 'process',
      [SPAN_ATTRIBUTE.messagingDestination]: claim.workflowName,
    };
    if (claim.kind === 'activity') {
      attributes[SPAN_ATTRIBUTE.activity] = claim.name;
      attributes[SPAN_ATTRIBUTE.callIndex] = claim.callIndex;
      attributes[SPAN_ATTRIBUTE.callKind] = claim.callKind;
    }
    const parent = storedContext(claim.traceContext);
    const enqueued = trace.getSpanContext(parent);
    const links: Link[] = enqueued ? [{ context: enqueued }] : [];
    const span = tracer.startSpan(
      claim.kind === 'step'
        ? SPAN_NAME.step(claim.workflowName, step)
        : SPAN_NAME.activity(claim.workflowName, claim.name),
      { kind: SpanKind.CONSUMER, attributes, links },
      parent,
    );
    // The stored context's baggage (if a propagator restored some) goes on.
    return { span, context: trace.setSpan(parent, span) };
  }

  /** Runs `fn` (the user's code and Underway's reads for it) inside the attempt's span. */
  within<T>(attempt: AttemptTrace, fn: () => T): T {
    return context.with(attempt.context, fn);
  }

  /**
   * Ends an attempt's span with its outcome (`underway.outcome`); a failed or
   * timed-out attempt records its error (`recordException`, status ERROR). A
   * step suspended on activity calls is not an error.
   * @param outcome what the attempt committed; `undefined`: nothing (claim lost)
   * @param state what the commit left the task in; `undefined`: the outcome was discarded
   * @param commitError why the outcome could not be committed
   */
  attemptEnded(
    { span }: AttemptTrace,
    outcome: RunOutcome | ActivityOutcome | undefined,
    state: string | undefined,
    commitError?: unknown,
  ): void {
    if (commitError !== undefined) {
      const message = (commitError as Error).message;
      span.recordException({ name: (commitError as Error).name, message });
      span.setStatus({ code: SpanStatusCode.ERROR, message });
    } else {
      const result = outcome ? attemptOutcome(outcome, state) : 'discarded';
      span.setAttribute(SPAN_ATTRIBUTE.outcome, result);
      if (
        (result === 'failed' || result === 'timed_out') &&
        outcome &&
        (outcome.kind === 'retry' || outcome.kind === 'fail')
      ) {
        recordError(span, outcome.error as ErrorRecord);
      }
    }
    span.end();
  }

  private async produce<T>(
    tracer: Tracer,
    name: string,
    attributes: Attributes,
    write: (traceContext: string | null) => Promise<T>,
    runIdOf?: (result: T) => string,
  ): Promise<T> {
    const active = context.active();
    const span = tracer.startSpan(
      name,
      { kind: SpanKind.PRODUCER, attributes },
      active,
    );
    const within = trace.setSpan(active, span);
    const carrier: TraceCarrier = {};
    propagation.inject(within, carrier);
    const stored =
      Object.keys(carrier).length > 0 ? JSON.stringify(carrier) : null;
    try {
      const result = await context.with(within, () => write(stored));
      if (runIdOf) {
        span.setAttribute(SPAN_ATTRIBUTE.runId, runIdOf(result));
      }
      return result;
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      span.recordException({ name: (err as Error)?.name, message });
      span.setStatus({ code: SpanStatusCode.ERROR, message });
      throw err;
    } finally {
      span.end();
    }
  }
}

/** An attempt's span, and the context its code runs in. */
export interface AttemptTrace {
  readonly span: Span;
  readonly context: Context;
}

/** The context an attempt continues: the one stored at enqueue, or none (a new trace). */
function storedContext(carrier: TraceCarrier | null | undefined): Context {
  return carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
}

/** A failed attempt's error, as OpenTelemetry records exceptions. */
function recordError(span: Span, error: ErrorRecord): void {
  span.recordException({ name: error.name, message: error.message });
  span.setAttribute(SPAN_ATTRIBUTE.errorType, error.code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/**
 * True when no SDK registered a tracer provider: the API's global is then its
 * proxy, whose delegate is the API's own no-op provider (the one a fresh proxy
 * returns too).
 */
function isNoopTracerProvider(provider: TracerProvider): boolean {
  const delegate =
    provider instanceof ProxyTracerProvider ? provider.getDelegate() : provider;
  return delegate === new ProxyTracerProvider().getDelegate();
}
