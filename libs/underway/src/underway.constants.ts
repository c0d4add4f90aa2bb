/** The frozen `ResolvedOptions`, for the library's own providers. */
export const UNDERWAY_OPTIONS = Symbol('UNDERWAY_OPTIONS');
/** Metadata keys written by the decorators and read by `UnderwayMetadataAccessor`. */
export const WORKFLOW_METADATA = 'underway:workflow';
export const STEPS_METADATA = 'underway:steps';
export const ACTIVITIES_METADATA = 'underway:activities';
export const UNDERWAY_EVENT_METADATA = 'underway:on-event';
