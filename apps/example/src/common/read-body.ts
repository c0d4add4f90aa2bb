import { BadRequestException } from '@nestjs/common';

/** The request body as a plain object, or a 400. */
export function readBody(body: unknown): Record<string, unknown> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new BadRequestException('The body must be a JSON object');
  }
  return body as Record<string, unknown>;
}

/** A non-empty string field of at most `maxLength` characters, or a 400. */
export function requireString(
  body: Record<string, unknown>,
  field: string,
  maxLength = 200,
): string {
  const value = body[field];
  if (
    typeof value !== 'string' ||
    value.trim() === '' ||
    value.length > maxLength
  ) {
    throw new BadRequestException(
      `"${field}" must be a non-empty string of at most ${maxLength} characters`,
    );
  }
  return value.trim();
}
