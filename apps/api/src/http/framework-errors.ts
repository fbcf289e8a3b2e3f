import type { FastifyReply, FastifyRequest } from 'fastify';

/** Longest path parameter routed (customer and job ids are far shorter); a longer one is 414. */
export const MAX_PATH_PARAM_LENGTH = 500;

/**
 * Errors Fastify raises while routing, before Nest sees the request: answered in the API's one
 * error shape, never echoing the URL (it may carry an identifier).
 */
export function frameworkErrors(error: Error & { code?: string }, _request: FastifyRequest, reply: FastifyReply): void {
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    void reply
      .code(414)
      .send({ statusCode: 414, error: 'uri_too_long', message: `a path parameter is longer than ${MAX_PATH_PARAM_LENGTH} characters` });
    return;
  }
  void reply.code(400).send({ statusCode: 400, error: 'bad_url', message: 'the URL is not valid' });
}
