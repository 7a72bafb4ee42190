// MeetBot on Azure App Service (Linux), with its Azure Bot, as `atk provision` deploys it
// (m365agents.yml, arm/deploy). Shape mirrors the Microsoft 365 Agents Toolkit's Python bot
// template (infra/azure.bicep): a Linux plan, a web app with Always On, a user-assigned managed
// identity, and the Azure Bot module. Not compiled or deployed in this repository's CI: there is
// no Bicep CLI or Azure here (tests/test_deploy.py only parses it and checks its settings).
//
// No secret in the web app: the bot signs in as its Entra app with a federated identity
// credential that trusts the user-assigned identity (MicrosoftAppClientId; m365agents.yml adds
// the credential to the app after this deployment), the pattern of "Provision agent resources
// in Azure Bot Service using federated credentials". The Toolkit's templates make the identity
// the bot itself (MicrosoftAppType=UserAssignedMSI); MeetBot cannot, because Teams SSO and
// on-behalf-of need an app registration (README "Identity choices"). The client secret remains
// only in the Azure Bot's OAuth connection setting, whose "Azure Active Directory v2" provider
// requires one; MeetBot never uses it.

@maxLength(20)
@minLength(4)
@description('Used to generate names for all resources in this file')
param resourceBaseName string

@description('The bot\'s Microsoft Entra app (client) id (aadApp/create: BOT_ID)')
param botAadAppClientId string

@description('The Entra app\'s home tenant (aadApp/create: BOT_TENANT_ID)')
param botAadAppTenantId string

@secure()
@description('The Entra app\'s client secret, for the Azure Bot\'s OAuth connection setting only (aadApp/create: SECRET_BOT_PASSWORD)')
param botAadAppClientSecret string

@maxLength(42)
param botDisplayName string

@description('App Service plan SKU: Basic (B1) or higher, Always On needs it')
param webAppSKU string = 'B1'

@description('Runtime stack: the Python that requirements.lock was compiled for')
param linuxFxVersion string = 'PYTHON|3.11'

@description('Name of the Azure Bot OAuth connection setting (the bot\'s SSO_CONNECTION_NAME)')
param oauthConnectionName string = 'graph-sso'

@description('Tenants whose users may use the bot (ALLOWED_TENANTS); the app\'s own by default')
param allowedTenants string = botAadAppTenantId

param serverfarmsName string = resourceBaseName
param webAppName string = resourceBaseName
param identityName string = resourceBaseName
param location string = resourceGroup().location

// The web app's identity; the bot's Entra app trusts it (federated identity credential).
resource identity 'Microsoft.ManagedIdentity/userAssignedIdentities@2023-01-31' = {
  location: location
  name: identityName
}

// Compute resources for your Web App
resource serverfarm 'Microsoft.Web/serverfarms@2022-09-01' = {
  kind: 'app,linux'
  location: location
  name: serverfarmsName
  sku: {
    name: webAppSKU
  }
  properties: {
    reserved: true
  }
}

// Web App that hosts MeetBot
resource webApp 'Microsoft.Web/sites@2022-09-01' = {
  kind: 'app,linux'
  location: location
  name: webAppName
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: serverfarm.id
    httpsOnly: true
    siteConfig: {
      alwaysOn: true
      // The startup command: the gunicorn form of app.py (README "App Service settings").
      // --no-control-socket: MeetBot has no use for gunicornc, and App Service's $HOME is
      // storage that every instance of the app shares.
      appCommandLine: 'gunicorn app:create_app --worker-class aiohttp.GunicornWebWorker --no-control-socket --bind 0.0.0.0:$PORT'
      healthCheckPath: '/healthz'
      linuxFxVersion: linuxFxVersion
      ftpsState: 'Disabled'
      minTlsVersion: '1.2'
    }
  }
}

// The app settings in a resource of their own: BOT_DOMAIN is the web app's own host name.
// Each name is one bot/config.py reads (tests/test_deploy.py checks), except the two build
// settings for App Service's build (Oryx).
resource webAppSettings 'Microsoft.Web/sites/config@2022-09-01' = {
  parent: webApp
  name: 'appsettings'
  properties: {
    SCM_DO_BUILD_DURING_DEPLOYMENT: 'true'
    // Oryx installs this file instead of requirements.txt: the hashed lock, so pip checks hashes.
    CUSTOM_REQUIREMENTSTXT_PATH: 'requirements.lock'
    PORT: '8000'
    MicrosoftAppId: botAadAppClientId
    // The managed identity whose token is the app's client assertion (no secret); App Service
    // gives the app IDENTITY_ENDPOINT and IDENTITY_HEADER to ask for it.
    MicrosoftAppClientId: identity.properties.clientId
    MicrosoftAppType: 'SingleTenant'
    MicrosoftAppTenantId: botAadAppTenantId
    GRAPH_AUTH_MODE: 'delegated'
    BOT_DOMAIN: webApp.properties.defaultHostName
    SSO_CONNECTION_NAME: oauthConnectionName
    ALLOWED_TENANTS: allowedTenants
  }
}

// Register your web service as a bot with the Bot Framework
module azureBotRegistration './botRegistration/azurebot.bicep' = {
  name: 'Azure-Bot-registration'
  params: {
    resourceBaseName: resourceBaseName
    botDisplayName: botDisplayName
    botAppDomain: webApp.properties.defaultHostName
    botAadAppClientId: botAadAppClientId
    botAadAppTenantId: botAadAppTenantId
    botAadAppClientSecret: botAadAppClientSecret
    oauthConnectionName: oauthConnectionName
  }
}

// The outputs are written to env/.env.{envName} (https://aka.ms/teamsfx-actions/arm-deploy).
output BOT_AZURE_APP_SERVICE_RESOURCE_ID string = webApp.id
output BOT_DOMAIN string = webApp.properties.defaultHostName
output BOT_ENDPOINT string = 'https://${webApp.properties.defaultHostName}'
output SSO_CONNECTION_NAME string = oauthConnectionName
// For the federated identity credential m365agents.yml adds to the Entra app.
output BOT_IDENTITY_PRINCIPAL_ID string = identity.properties.principalId
