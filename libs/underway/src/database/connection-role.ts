/** What a connection of the library is for; the last part of its `application_name`. */
export type ConnectionRole =
  | 'claim'
  | 'exec'
  | 'heartbeat'
  | 'listen'
  | 'scheduler'
  | 'activity'
  | 'maintenance';

/** `underway:<instanceName>:<role>`, at most 63 bytes (PostgreSQL's limit). */
export function applicationName(
  instanceName: string,
  role: ConnectionRole,
): string {
  const suffix = `:${role}`;
  const prefix = 'underway:';
  const room = 63 - prefix.length - suffix.length;
  return `${prefix}${instanceName.slice(0, room)}${suffix}`;
}
