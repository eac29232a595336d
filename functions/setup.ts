/** App-wide options; imported first by index.ts so it runs before any registration. */
import { app } from '@azure/functions';

// Single-agent calls stream tokens to the client (Server-Sent Events) through HTTP streaming.
app.setup({ enableHttpStream: true });
