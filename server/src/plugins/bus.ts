// The message bus, when several companions serve one site (TRICKLE_BUS); absent for one instance.
import fp from 'fastify-plugin'
import { connectNatsBus, newInstanceId, type Bus } from '../bus/bus.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Set when TRICKLE_BUS names a NATS server: the tracker's swarms span every instance on it. */
    bus?: Bus
    /** This process's name in logs and on the bus. */
    instanceId: string
  }
}

export default fp(async function busPlugin (app, opts: { url?: string, prefix: string }) {
  if (!opts.url) {
    app.decorate('instanceId', newInstanceId())
    app.decorate('bus', undefined)
    return
  }
  const bus = await connectNatsBus({ url: opts.url, prefix: opts.prefix, log: app.log })
  app.decorate('instanceId', bus.instanceId)
  app.decorate('bus', bus)
  // Last: the tracker says goodbye on the bus in its own onClose, which runs before this one.
  app.addHook('onClose', async () => { await bus.close() })
}, { name: 'bus', fastify: '5.x' })
