import {
  ArgumentMetadata,
  BadRequestException,
  Injectable,
  PipeTransform,
} from '@nestjs/common';

/** How deep a query string or a body is searched (`qs` nests 5 levels; bodies are small). */
const MAX_DEPTH = 32;

/**
 * Refuses a NUL byte (`%00`, `\u0000`) anywhere in a route parameter, the
 * query string or an action's body, with a 400: PostgreSQL cannot store the
 * character, so a filter or a queue name holding it can match nothing, and
 * sent to the database it is an error (which was a 500).
 */
@Injectable()
export class DashboardInputPipe implements PipeTransform {
  transform(value: unknown, metadata: ArgumentMetadata): unknown {
    if (
      (metadata.type === 'param' ||
        metadata.type === 'query' ||
        metadata.type === 'body') &&
      holdsNul(value, 0)
    ) {
      throw new BadRequestException(
        'A NUL byte (%00) is not allowed in the dashboard’s addresses, filters or actions: ' +
          'PostgreSQL stores no such character, so nothing could match it.',
      );
    }
    return value;
  }
}

function holdsNul(value: unknown, depth: number): boolean {
  if (typeof value === 'string') {
    return value.includes('\u0000');
  }
  if (typeof value !== 'object' || value === null || depth > MAX_DEPTH) {
    return false;
  }
  return Object.entries(value as Record<string, unknown>).some(
    ([key, item]) => key.includes('\u0000') || holdsNul(item, depth + 1),
  );
}
