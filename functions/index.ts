/**
 * The one startup file of the Functions app (package.json "main"). It imports every registration;
 * the same compiled file runs on Azure and on the embedded local host.
 */
import './setup';
import './health';
import './hello-sequence';
import './agents';
import './workflows-registry';
import './workflows';
import './runs';
import './docs';
