import type { AttemptEventTask, UnderwayEventMap } from './underway-event-map';

/**
 * Events the library's own subscribers (metrics) need beyond the public
 * ones: never offered to the app, and, like them, free without a listener.
 */
export interface InternalEventMap {
  /** A task was claimed: how long it had been due. */
  'attempt:claimed': {
    readonly workflowName: string;
    readonly kind: 'step' | 'activity';
    readonly queueWaitMs: number;
    /** A step resuming after its activity calls (its wait would count theirs). */
    readonly resumed: boolean;
  };
  /** An attempt of this process whose outcome changed nothing (its claim was lost). */
  'attempt:discarded': AttemptEventTask & { readonly durationMs: number };
  /** The lease rescuer took back an attempt whose worker died or stalled. */
  'attempt:expired': AttemptEventTask;
  /** The scheduler ended a pass and sleeps until its next due tick (tests wait on it). */
  'schedule:armed': { readonly waitMs: number };
}

/** Every event the engine emits: the public ones and the internal ones. */
export type EngineEventMap = UnderwayEventMap & InternalEventMap;
export type EngineEventName = keyof EngineEventMap;
