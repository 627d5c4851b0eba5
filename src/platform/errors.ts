// Errors services throw; the HTTP layer renders them as JSON:API error documents.

export interface ErrorItem {
  status: string;
  code: string;
  title: string;
  detail?: string;
  source?: { pointer?: string; parameter?: string; header?: string };
}

export class AppError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly title: string,
    detail?: string,
    readonly source?: ErrorItem['source'],
    readonly items?: ErrorItem[],
  ) {
    super(detail ?? title);
  }

  toItems(): ErrorItem[] {
    if (this.items?.length) return this.items;
    const item: ErrorItem = { status: String(this.status), code: this.code, title: this.title };
    if (this.message !== this.title) item.detail = this.message;
    if (this.source) item.source = this.source;
    return [item];
  }
}

const pointer = (p?: string) => (p ? { pointer: p } : undefined);

export const badRequest = (detail: string, ptr?: string) => new AppError(400, 'bad_request', 'Bad request', detail, pointer(ptr));
export const validationFailed = (items: ErrorItem[]) => new AppError(400, 'validation_failed', 'Validation failed', undefined, undefined, items);
export const unauthorized = (detail = 'A valid credential is required') => new AppError(401, 'unauthorized', 'Unauthorized', detail);
export const forbidden = (detail = 'You are not allowed to perform this operation') => new AppError(403, 'forbidden', 'Forbidden', detail);
export const notFound = (what = 'Resource') => new AppError(404, 'not_found', 'Not found', `${what} not found`);
export const conflict = (detail: string, ptr?: string) => new AppError(409, 'conflict', 'Conflict', detail, pointer(ptr));
export const unprocessable = (detail: string, ptr?: string) => new AppError(422, 'unprocessable', 'Unprocessable entity', detail, pointer(ptr));
