import type { FastifyReply } from 'fastify'
import { STATUS_CODES } from 'node:http'

/** Sends the one error shape every route uses (schemas/common.ts ErrorReply). */
export function sendError (reply: FastifyReply, statusCode: number, code: string, message: string) {
  return reply.code(statusCode).type('application/json').send({ statusCode, error: STATUS_CODES[statusCode] ?? 'Error', code, message })
}
