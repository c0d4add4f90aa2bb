import { Injectable } from '@nestjs/common';
import {
  Attributes,
  context,
  Context,
  Link,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  Span,
  SpanKind,
  SpanStatusCode,
  trace,
  Tracer,
  TracerProvider,
} from '@opentelemetry/api';
import type { RecordedError } from '../model/recorded-error';
import {
  AttemptSettlement,
  AttemptTask,
  EnqueueRequest,
  EnqueueResult,
  UnderwayInterceptor,
} from '../events/underway.interceptor';
import { settledAs } from './attempt-outcome';
import {
  MESSAGING_SYSTEM,
  SPAN_ATTRIBUTE,
  SPAN_NAME,
  TRACER_NAME,
} from './trace-names';

/**
 * Underway's traces, through `@opentelemetry/api` only (tracer
 * `@underway/nestjs`), as the outermost `UnderwayInterceptor`.
 *
 * - An insert of runs (`enqueue`, `enqueueMany`, a schedule's fire, a
 *   redrive) runs in a `PRODUCER` span, a child of the active context, and
 *   stores that span's W3C context (`traceparent`, `tracestate`) with the
 *   runs, in the same INSERT, so in the caller's transaction.
 * - Each step attempt and each activity attempt runs in a `CONSUMER` span
 *   whose parent is that stored context, and which links to it (messaging
 *   conventions: the link says "this processes that message"; the parent
 *   keeps one trace from the request to the last step, in whichever process
 *   claims it, after a crash and reclaim too). The user's code runs inside
 *   the span's context, so its own spans (HTTP, SQL) nest under the attempt.
 *
 * Without an SDK the global tracer provider has no delegate: then this
 * interceptor is left out of the chain (`enabled` is false), no span is made
 * and the runs' `trace_context` stays NULL. The provider is looked up when
 * the module is created: start the SDK first (OpenTelemetry's own advice), or
 * traces stay off, as metrics do.
 */
@Injectable()
export class TracingInterceptor extends UnderwayInterceptor {
  private readonly tracer: Tracer | undefined;

  constructor() {
    super();
    this.tracer = isNoopTracerProvider(trace.getTracerProvider())
      ? undefined
      : trace.getTracer(TRACER_NAME);
  }

  /** False when no OpenTelemetry SDK is installed. */
  get enabled(): boolean {
    return this.tracer !== undefined;
  }

  override async enqueue(
    request: EnqueueRequest,
    next: (request: EnqueueRequest) => Promise<EnqueueResult>,
  ): Promise<EnqueueResult> {
    const tracer = this.tracer;
    if (!tracer) {
      return next(request);
    }
    const redrive = request.source === 'redrive';
    const attributes: Attributes = {
      [SPAN_ATTRIBUTE.messagingSystem]: MESSAGING_SYSTEM,
      [SPAN_ATTRIBUTE.messagingOperationType]: 'send',
      [SPAN_ATTRIBUTE.source]: request.source,
    };
    if (redrive) {
      attributes[SPAN_ATTRIBUTE.deadLetterQueue] = request.queue ?? '';
    } else {
      attributes[SPAN_ATTRIBUTE.workflow] = request.workflowName;
      attributes[SPAN_ATTRIBUTE.messagingDestination] = request.workflowName;
    }
    if (request.schedule) {
      attributes[SPAN_ATTRIBUTE.scheduleKey] = request.schedule.key;
    }
    const single = request.count === 1 && !redrive;
    if (!single) {
      attributes[SPAN_ATTRIBUTE.messagingBatchCount] = request.count;
    }
    const active = context.active();
    const span = tracer.startSpan(
      redrive
        ? SPAN_NAME.redrive(request.queue ?? '')
        : SPAN_NAME.enqueue(request.workflowName),
      { kind: SpanKind.PRODUCER, attributes },
      active,
    );
    const within = trace.setSpan(active, span);
    const carrier: Record<string, string> = { ...(request.carrier ?? {}) };
    propagation.inject(within, carrier);
    try {
      const result = await context.with(within, () =>
        next({
          ...request,
          carrier: Object.keys(carrier).length > 0 ? carrier : null,
        }),
      );
      if (single && result.runIds[0] !== undefined) {
        span.setAttribute(SPAN_ATTRIBUTE.runId, result.runIds[0]);
      }
      return result;
    } catch (err) {
      recordThrown(span, err);
      throw err;
    } finally {
      span.end();
    }
  }

  override async attempt(
    task: AttemptTask,
    next: () => Promise<AttemptSettlement>,
  ): Promise<AttemptSettlement> {
    const tracer = this.tracer;
    if (!tracer) {
      return next();
    }
    const attributes: Attributes = {
      [SPAN_ATTRIBUTE.workflow]: task.workflowName,
      [SPAN_ATTRIBUTE.runId]: task.runId,
      [SPAN_ATTRIBUTE.step]: task.step,
      [SPAN_ATTRIBUTE.stepIndex]: task.stepIndex,
      [SPAN_ATTRIBUTE.attempt]: task.attempt,
      [SPAN_ATTRIBUTE.messagingSystem]: MESSAGING_SYSTEM,
      [SPAN_ATTRIBUTE.messagingOperationType]: 'process',
      [SPAN_ATTRIBUTE.messagingDestination]: task.workflowName,
    };
    if (task.kind === 'activity') {
      attributes[SPAN_ATTRIBUTE.activity] = task.activity;
      if (task.callIndex !== undefined) {
        attributes[SPAN_ATTRIBUTE.callIndex] = task.callIndex;
      }
      if (task.callKind !== undefined) {
        attributes[SPAN_ATTRIBUTE.callKind] = task.callKind;
      }
    }
    const parent = storedContext(task.carrier);
    const enqueued = trace.getSpanContext(parent);
    const links: Link[] = enqueued ? [{ context: enqueued }] : [];
    const span = tracer.startSpan(
      task.kind === 'step'
        ? SPAN_NAME.step(task.workflowName, task.step)
        : SPAN_NAME.activity(task.workflowName, task.activity),
      { kind: SpanKind.CONSUMER, attributes, links },
      parent,
    );
    try {
      // The stored context's baggage (if a propagator restored some) goes on.
      const settlement = await context.with(trace.setSpan(parent, span), next);
      const outcome = settledAs(settlement);
      span.setAttribute(SPAN_ATTRIBUTE.outcome, outcome);
      if (
        (outcome === 'failed' || outcome === 'timed_out') &&
        settlement.error
      ) {
        recordError(span, settlement.error);
      }
      return settlement;
    } catch (err) {
      recordThrown(span, err); // the outcome could not be committed
      throw err;
    } finally {
      span.end();
    }
  }
}

/** The context an attempt continues: the one stored at enqueue, or none (a new trace). */
function storedContext(
  carrier: Readonly<Record<string, string>> | null,
): Context {
  return carrier ? propagation.extract(ROOT_CONTEXT, carrier) : ROOT_CONTEXT;
}

/** A failed attempt's error, as OpenTelemetry records exceptions. */
function recordError(span: Span, error: RecordedError): void {
  span.recordException({ name: error.name, message: error.message });
  span.setAttribute(SPAN_ATTRIBUTE.errorType, error.code);
  span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
}

/** What went wrong in Underway's own work (an insert, a commit), on its span. */
function recordThrown(span: Span, err: unknown): void {
  const message = describe(err);
  span.recordException({ name: (err as Error)?.name, message });
  span.setStatus({ code: SpanStatusCode.ERROR, message });
}

function describe(err: unknown): string {
  try {
    return (err as Error)?.message ?? String(err);
  } catch {
    return 'an error that cannot be printed';
  }
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
