import { Type } from 'typebox'

export const ErrorReply = Type.Object({
  statusCode: Type.Integer({ description: 'HTTP status' }),
  error: Type.String({ description: 'HTTP status text' }),
  code: Type.String({ description: 'Stable machine-readable error code' }),
  message: Type.String({ description: 'What went wrong, in words' })
}, { $id: 'ErrorReply', description: 'Every 4xx and 5xx reply has this shape.' })

export const errorRef = Type.Ref('ErrorReply')

export const Amount = Type.String({ pattern: '^[0-9]{1,20}$', description: 'Whole number of the smallest unit, in decimal', examples: ['1000'] })

export const bearer = [{ bearer: [] }]

/** A `text/plain` reply body, documented as such in OpenAPI. */
export const textReply = (description: string) => ({
  description,
  content: { 'text/plain': { schema: { type: 'string' as const, pattern: '^[0-9]+$' } } }
})
