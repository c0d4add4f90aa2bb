import { context, propagation, ROOT_CONTEXT, trace } from '@opentelemetry/api';
import { SPAN_ATTRIBUTE } from './trace-names';

/**
 * The active span's W3C context (`traceparent`, `tracestate`), to store with
 * a signal sent from it; `null` outside a span (no OpenTelemetry SDK, or no
 * span active), which costs one lookup.
 */
export function activeTraceCarrier(): Record<string, string> | null {
  if (!trace.getActiveSpan()) {
    return null;
  }
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return Object.keys(carrier).length > 0 ? carrier : null;
}

/**
 * Links the active span (a step attempt's) to the span a signal was sent
 * from (`carrier`, stored with the signal): "this attempt took that signal".
 * Nothing without an active span or a stored context.
 */
export function linkToSignalSender(
  carrier: Readonly<Record<string, string>> | null | undefined,
  signalName: string,
): void {
  const span = carrier ? trace.getActiveSpan() : undefined;
  if (!span || !carrier) {
    return;
  }
  const sender = trace.getSpanContext(
    propagation.extract(ROOT_CONTEXT, carrier),
  );
  if (sender) {
    span.addLink({
      context: sender,
      attributes: { [SPAN_ATTRIBUTE.signal]: signalName },
    });
  }
}
