/*
 * The bounds that keep every dashboard page small (README "The dashboard",
 * "Page bounds"): a bounded number of rows read and shown, and every long
 * text clipped, so a page weighs well under 150 KB with its assets whatever
 * the tables hold (100,000 schedules, a run with 10,000 activity calls).
 */

/** Rows of a page of schedules, of dead-letter queues, of a queue's entries. */
export const LIST_PAGE_SIZE = 50;

/** Workflows listed on the overview, in at most so many bytes (the totals count them all). */
export const OVERVIEW_WORKFLOWS = 50;
export const OVERVIEW_ROWS_BYTES = 64 * 1024;

/** An error message in a list (a run's last error, on its page: 2,000, the most ever recorded). */
export const LIST_ERROR_CHARS = 200;
export const RUN_ERROR_CHARS = 2_000;

/** A payload (`showPayloads`) in a list, and each of a run's payloads on its page. */
export const LIST_PAYLOAD_CHARS = 300;
export const RUN_PAYLOAD_CHARS = 4_000;

/**
 * The largest payload, as stored (`pg_column_size`: compressed), that is
 * read to be shown: PostgreSQL writes a jsonb value's text whole before
 * cutting it, some 10-40 ms a MiB. Bigger ones show their size only.
 */
export const LIST_PAYLOAD_MAX_STORED = 8 * 1024;
export const RUN_PAYLOAD_MAX_STORED = 256 * 1024;

/** Steps listed on a run's page: those around its current step (or the one asked for). */
export const RUN_PAGE_STEPS = 30;

/**
 * Rows of a run's timeline: attempts, activity calls and calls' attempts,
 * children (two with an error or an output), over all its steps. Each step shows its latest attempts and its first
 * calls (a call with its latest attempts) until these are used; the rest is
 * counted, with links to page through it.
 */
export const RUN_PAGE_ROWS = 80;
export const STEP_ATTEMPTS_SHOWN = 5;
export const STEP_CALLS_SHOWN = 10;
export const CALL_ATTEMPTS_SHOWN = 3;
/** A page of one step's attempts or calls (`?step=2&calls_after=39`). */
export const STEP_PAGE_SIZE = 80;

/** The waits and sleeps a run's facts list (those its current step is in). */
export const OPEN_WAITS_SHOWN = 10;

/** The signal names shown of a wait (a `waitForAny` may take many; the rest are counted). */
export const WAIT_NAMES_SHOWN = 5;

/**
 * The largest record of a wait (as stored) whose signal's id and name a
 * run's timeline reads: the record holds the signal's payload too, and a
 * jsonb value is read whole. Bigger ones show that they took a signal.
 */
export const WAIT_RESULT_MAX_STORED = 8 * 1024;

/**
 * A child's output (`showPayloads`) on its entry in a run's timeline: up to
 * 80 entries share a page, so less than a list's payload.
 */
export const CHILD_OUTPUT_CHARS = 100;

/** Signals of a run listed on its page: the latest, in send order (keyset links to the earlier). */
export const RUN_SIGNALS_SHOWN = 20;

/** Children of a run listed on its page: the latest started (keyset links to the earlier). */
export const RUN_CHILDREN_SHOWN = 20;

/** A child's workflow name and the name of the step that started it, as a run's page shows them. */
export const CHILD_TEXT_CHARS = 120;

/** A child's error on its entry in its parent's timeline (its own page shows it at RUN_ERROR_CHARS). */
export const CHILD_ERROR_CHARS = 120;

/**
 * A signal's name (in the list of a run's signals, and among the names a
 * wait takes), its idempotency key and the name of the step that took it,
 * as a run's page shows them (each may be 255 characters).
 */
export const SIGNAL_TEXT_CHARS = 120;

/**
 * A run's page refreshes itself while the run is unfinished, unless the run
 * has more attempts, calls, signals and children than this: each refresh
 * counts them.
 */
export const LIVE_RUN_MAX_ROWS = 1_000;
