// The Azure Bot for MeetBot: its messaging endpoint, the Microsoft Teams channel and the OAuth
// connection setting whose name the sign-in card carries (SSO_CONNECTION_NAME).
// Shape mirrors the Microsoft 365 Agents Toolkit's Python bot template
// (infra/botRegistration/azurebot.bicep) and the Teams sample bot-conversation-sso-quickstart.
// Not compiled or deployed in this repository's CI: there is no Bicep CLI or Azure here.
// m365agents.yml deploys it through ../azure.bicep; m365agents.local.yml deploys it on its own
// (parameters: ../azure.parameters.local.json) with the dev tunnel's domain.

@maxLength(20)
@minLength(4)
@description('Used to generate names for all resources in this file')
param resourceBaseName string

@maxLength(42)
param botDisplayName string

param botServiceName string = resourceBaseName
param botServiceSku string = 'F0'

@description('Host name that Teams posts to: https://{botAppDomain}/api/messages')
param botAppDomain string

@description('The bot\'s Microsoft Entra app (client) id: MicrosoftAppId')
param botAadAppClientId string

@description('The Entra app\'s home tenant: MicrosoftAppTenantId')
param botAadAppTenantId string

@secure()
@description('The Entra app\'s client secret, for the OAuth connection setting')
param botAadAppClientSecret string

@description('Name of the OAuth connection setting: the bot\'s SSO_CONNECTION_NAME')
param oauthConnectionName string = 'graph-sso'

@description('Delegated Microsoft Graph scopes the OAuth connection asks for')
param oauthScopes string = 'openid profile offline_access OnlineMeetings.ReadWrite Calendars.ReadWrite'

// Register your web service as a bot with the Bot Framework. Single tenant: what Azure creates for
// new bots ("Use the Azure portal to Create an Azure Bot resource").
resource botService 'Microsoft.BotService/botServices@2022-09-15' = {
  kind: 'azurebot'
  location: 'global'
  name: botServiceName
  properties: {
    displayName: botDisplayName
    endpoint: 'https://${botAppDomain}/api/messages'
    msaAppId: botAadAppClientId
    msaAppTenantId: botAadAppTenantId
    msaAppType: 'SingleTenant'
  }
  sku: {
    name: botServiceSku
  }
}

// Connect the bot service to Microsoft Teams
resource botServiceMsTeamsChannel 'Microsoft.BotService/botServices/channels@2022-09-15' = {
  parent: botService
  location: 'global'
  name: 'MsTeamsChannel'
  properties: {
    channelName: 'MsTeamsChannel'
  }
}

// "Add OAuth Connection Settings": Azure Active Directory v2 with the token exchange URL, which
// Teams SSO needs ("Configure your app in Microsoft Entra ID", bot SSO). MeetBot exchanges the
// SSO token on-behalf-of itself; the connection is the name the sign-in card and the
// signin/tokenExchange invoke carry.
resource botServiceOAuthConnection 'Microsoft.BotService/botServices/connections@2022-09-15' = {
  parent: botService
  name: oauthConnectionName
  location: 'global'
  properties: {
    serviceProviderDisplayName: 'Azure Active Directory v2'
    serviceProviderId: '30dd229c-58e3-4a48-bdfd-91ec48eb906c'
    scopes: oauthScopes
    parameters: [
      {
        key: 'clientId'
        value: botAadAppClientId
      }
      {
        key: 'clientSecret'
        value: botAadAppClientSecret
      }
      {
        key: 'tenantID'
        value: botAadAppTenantId
      }
      {
        key: 'tokenExchangeUrl'
        value: 'api://botid-${botAadAppClientId}'
      }
    ]
  }
}

output SSO_CONNECTION_NAME string = botServiceOAuthConnection.name
